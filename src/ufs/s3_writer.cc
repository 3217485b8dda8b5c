// S3Writer: the Writer of S3Store. Buffers up to multipart_threshold; past it, starts a
// multipart upload and sends part_size parts as they fill, so at most about
// max(threshold, part_size) bytes are held. Close sends a single PUT (small objects) or
// the last part and CompleteMultipartUpload; Abort (and the destructor of an unclosed
// writer) sends AbortMultipartUpload. Nothing is visible under the key before Close.
#include <fmt/format.h>

#include <strings.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>
#include <vector>

#include "ufs/s3_store.h"
#include "ufs/s3_xml.h"

namespace sluice::ufs {

class S3Writer : public Writer {
 public:
  S3Writer(S3Store* store, std::string key, std::string full_key, const ObjectHeaders& headers)
      : store_(store), key_(std::move(key)), full_key_(std::move(full_key)) {
    auto stored = std::make_shared<ObjectHeaders>();
    for (const auto& [name, value] : headers) {
      if (!IsStoredHeader(name)) continue;
      headers_.push_back(fmt::format("{}: {}", name, value));
      stored->emplace_back(name, value);
    }
    stored_ = std::move(stored);
  }
  ~S3Writer() override {
    if (!done_) Abort();
  }

  Status Append(std::string_view data) override {
    if (done_) return Status::FailedPrecondition(Context("append after Close or Abort"));
    if (!error_.ok()) return error_;
    buffer_.append(data);
    size_ += data.size();
    if (upload_id_.empty() && buffer_.size() > store_->options_.multipart_threshold) {
      error_ = CreateUpload();
      if (!error_.ok()) return store_->Failed(error_);
    }
    for (uint64_t part; !upload_id_.empty() && buffer_.size() >= (part = PartSize());) {
      error_ = UploadPart(std::string_view(buffer_).substr(0, part));
      if (!error_.ok()) return store_->Failed(error_);
      buffer_.erase(0, part);
    }
    return Status::OK();
  }

  // S3 takes at most 10,000 parts of at most 5 GiB: the part size doubles every 1,000
  // parts (8 MiB parts reach 78 GiB in 10,000; doubling, 8 TiB), so an object of any size
  // S3 allows fits. Parts may differ in size; only the last may be under 5 MiB.
  uint64_t PartSize() const {
    constexpr uint64_t kMaxPart = uint64_t{5} << 30;
    const uint64_t doublings = std::min<uint64_t>(parts_.size() / 1000, 20);
    return std::min(kMaxPart, store_->options_.part_size << doublings);
  }

  Result<ObjectInfo> Close() override {
    if (done_) return Status::FailedPrecondition(Context("Close after Close or Abort"));
    if (!error_.ok()) {
      Abort();
      return error_;
    }
    Result<ObjectInfo> info = upload_id_.empty() ? PutObject() : CompleteUpload();
    if (!info.ok()) {
      Abort();
      return store_->Failed(info.status());
    }
    done_ = true;
    return info;
  }

  void Abort() override {
    done_ = true;
    buffer_.clear();
    buffer_.shrink_to_fit();
    if (upload_id_.empty()) return;
    std::string url = store_->config_.ObjectUrl(full_key_) +
                      "?uploadId=" + UriEncode(upload_id_, /*keep_slash=*/false);
    Result<HttpResponse> r = store_->client_.Perform(store_->NewRequest("DELETE", url));
    if (!r.ok() || r->status / 100 != 2) {
      store_->counters_.errors.fetch_add(1, std::memory_order_relaxed);  // leaves an orphan
    }
    upload_id_.clear();
  }

 private:
  std::string Context(std::string_view what) const {
    return fmt::format("write {} '{}': {}", store_->config_.uri, key_, what);
  }

  ObjectInfo Info(const HttpResponse& response, std::string etag) const {
    ObjectInfo info;
    info.key = key_;
    info.size = size_;
    info.etag = std::move(etag);
    info.headers = stored_;
    info.mtime_ns = ParseHttpDateNs(response.Header("last-modified"));
    if (info.mtime_ns == 0) {
      info.mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    }
    return info;
  }

  Result<ObjectInfo> PutObject() {
    HttpRequest req = store_->NewRequest("PUT", store_->config_.ObjectUrl(full_key_));
    req.headers.insert(req.headers.end(), headers_.begin(), headers_.end());
    req.body = buffer_;
    SLUICE_ASSIGN_OR_RETURN(HttpResponse r, store_->client_.Perform(req));
    if (r.status / 100 != 2) return store_->ErrorOf(r, "PUT", key_);
    store_->counters_.bytes_written.fetch_add(buffer_.size(), std::memory_order_relaxed);
    buffer_.clear();
    return Info(r, Unquote(r.Header("etag")));
  }

  Status CreateUpload() {
    HttpRequest req =
        store_->NewRequest("POST", store_->config_.ObjectUrl(full_key_) + "?uploads=");
    req.headers.insert(req.headers.end(), headers_.begin(), headers_.end());
    // Without one, curl sends a POST as application/x-www-form-urlencoded, and S3 keeps
    // that as the object's type; a PutObject without one is stored as binary/octet-stream.
    const bool typed = std::any_of(headers_.begin(), headers_.end(), [](const std::string& h) {
      return strncasecmp(h.c_str(), "content-type:", 13) == 0;
    });
    if (!typed) req.headers.push_back("Content-Type: binary/octet-stream");
    Result<HttpResponse> r = store_->client_.Perform(req);
    if (!r.ok()) return r.status().WithContext(Context("CreateMultipartUpload"));
    if (r->status != 200) return store_->ErrorOf(*r, "POST uploads", key_);
    Result<std::string> id = ParseInitiateMultipartUpload(r->body);
    if (!id.ok()) return id.status();
    upload_id_ = *id;
    return Status::OK();
  }

  Status UploadPart(std::string_view data) {
    int number = static_cast<int>(parts_.size()) + 1;
    std::string url =
        fmt::format("{}?partNumber={}&uploadId={}", store_->config_.ObjectUrl(full_key_), number,
                    UriEncode(upload_id_, /*keep_slash=*/false));
    HttpRequest req = store_->NewRequest("PUT", std::move(url));
    req.body = data;
    Result<HttpResponse> r = store_->client_.Perform(req);
    if (!r.ok()) return r.status().WithContext(Context("UploadPart"));
    if (r->status != 200) return store_->ErrorOf(*r, fmt::format("PUT part {}", number), key_);
    std::string etag = Unquote(r->Header("etag"));
    if (etag.empty()) return Status::Internal(Context("UploadPart: no ETag"));
    parts_.emplace_back(number, std::move(etag));
    store_->counters_.bytes_written.fetch_add(data.size(), std::memory_order_relaxed);
    return Status::OK();
  }

  Result<ObjectInfo> CompleteUpload() {
    if (!buffer_.empty() || parts_.empty()) {
      SLUICE_RETURN_IF_ERROR(UploadPart(buffer_));
      buffer_.clear();
    }
    std::string url = store_->config_.ObjectUrl(full_key_) +
                      "?uploadId=" + UriEncode(upload_id_, /*keep_slash=*/false);
    HttpRequest req = store_->NewRequest("POST", std::move(url));
    std::string xml = BuildCompleteMultipartUpload(parts_);
    req.body = xml;
    req.headers.push_back("Content-Type: application/xml");
    // S3 may answer 200 with an <Error> body (InternalError, SlowDown: kUnavailable) that
    // it asks to retry: the parts are still there; aborting would throw them away.
    constexpr int kAttempts = 4;
    for (int attempt = 1;; ++attempt) {
      SLUICE_ASSIGN_OR_RETURN(HttpResponse r, store_->client_.Perform(req));
      if (r.status != 200) return store_->ErrorOf(r, "POST complete", key_);
      Result<std::string> etag = ParseCompleteMultipartUpload(r.body);
      if (etag.ok()) {
        upload_id_.clear();  // committed: nothing to abort
        return Info(r, std::move(etag).value());
      }
      if (!etag.status().Is(StatusCode::kUnavailable) || attempt == kAttempts) {
        return etag.status();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
    }
  }

  S3Store* const store_;
  const std::string key_;       // as given, for messages
  const std::string full_key_;  // with the store's prefix
  std::vector<std::string> headers_;  // "name: value" of the stored headers, sent on create
  std::shared_ptr<const ObjectHeaders> stored_;  // the same, for the committed ObjectInfo
  std::string buffer_;
  uint64_t size_ = 0;
  std::string upload_id_;                           // non-empty once multipart started
  std::vector<std::pair<int, std::string>> parts_;  // (number, ETag) uploaded so far
  Status error_;                                    // the first failure; sticky
  bool done_ = false;
};

Result<std::unique_ptr<Writer>> S3Store::OpenWrite(std::string_view key,
                                                   const ObjectHeaders& headers) {
  counters_.writes.fetch_add(1, std::memory_order_relaxed);
  Result<std::string> full = FullKey(key);
  if (!full.ok()) return Failed(full.status());
  return std::unique_ptr<Writer>(new S3Writer(this, std::string(key), *full, headers));
}

}  // namespace sluice::ufs
