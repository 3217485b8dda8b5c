#include "ufs/http_store.h"

#include <fmt/format.h>

#include <algorithm>

#include "ufs/factory.h"

namespace sluice::ufs {
namespace {

CurlClientOptions ClientOptions(const HttpOptions& options) {
  CurlClientOptions o;
  o.max_retries = options.max_retries;
  o.connect_timeout = options.connect_timeout;
  o.request_timeout = options.request_timeout;
  return o;
}

}  // namespace

HttpStore::HttpStore(std::string base_url, const HttpOptions& options)
    : base_url_(std::move(base_url)), client_(ClientOptions(options)) {}

Result<std::string> HttpStore::Url(std::string_view key) const {
  SLUICE_ASSIGN_OR_RETURN(std::string norm, NormalizeKey(key));
  if (norm.empty()) return Status::InvalidArgument(fmt::format("{}: empty key", base_url_));
  return base_url_ + "/" + UriEncode(norm, /*keep_slash=*/true);
}

Status HttpStore::Failed(Status status) {
  if (!status.Is(StatusCode::kNotFound)) errors_.fetch_add(1, std::memory_order_relaxed);
  return status;
}

Result<ObjectInfo> HttpStore::Stat(std::string_view key) {
  stats_.fetch_add(1, std::memory_order_relaxed);
  Result<std::string> url = Url(key);
  if (!url.ok()) return Failed(url.status());
  HttpRequest req;
  req.method = "HEAD";
  req.url = *url;
  Result<HttpResponse> r = client_.Perform(req);
  if (!r.ok()) return Failed(r.status().WithContext(fmt::format("HEAD '{}'", key)));
  if (r->status != 200) return Failed(HttpError(r->status, fmt::format("HEAD {}", *url)));
  ObjectInfo info;
  info.key = std::string(key);
  FillInfoFromHeaders(*r, &info);
  return info;
}

Result<std::string> HttpStore::Read(std::string_view key, uint64_t offset, uint64_t length,
                                    std::string_view expected_version) {
  return ReadImpl(key, offset, length, expected_version, nullptr);
}

Result<ReadResult> HttpStore::ReadWithInfo(std::string_view key, uint64_t offset,
                                           uint64_t length) {
  if (length == 0) return UnderStore::ReadWithInfo(key, offset, length);
  ReadResult out;
  bool sized = false;
  Result<std::string> data = ReadImpl(key, offset, length, {}, &out.info, &sized);
  if (!data.ok()) return data.status();
  // Nothing came back (offset at or past the end, a 416), or the response did not name the
  // object's size ("bytes 0-9/*"): a HEAD and a read instead.
  if (data->empty() || !sized) return UnderStore::ReadWithInfo(key, offset, length);
  out.data = std::move(data).value();
  return out;
}

Result<std::string> HttpStore::ReadImpl(std::string_view key, uint64_t offset, uint64_t length,
                                        std::string_view expected_version, ObjectInfo* info,
                                        bool* sized) {
  reads_.fetch_add(1, std::memory_order_relaxed);
  Result<std::string> url = Url(key);
  if (!url.ok()) return Failed(url.status());
  HttpRequest req;
  req.method = length == 0 ? "HEAD" : "GET";
  req.url = *url;
  if (length > 0) SetRange(&req, offset, length);
  Result<HttpResponse> r = client_.Perform(req);
  if (!r.ok()) return Failed(r.status().WithContext(fmt::format("GET '{}'", key)));
  if (r->status != 200 && r->status != 206 && r->status != 416) {
    return Failed(HttpError(r->status, fmt::format("GET {}", *url)));
  }
  ObjectInfo seen;
  seen.key = std::string(key);
  const bool has_size = FillInfoFromHeaders(*r, &seen);
  if (sized != nullptr) *sized = has_size;
  if (!expected_version.empty()) {
    // A 416, or a part of unknown total, without an ETag says nothing about the version
    // (which names the size then): only compare what was sent.
    bool comparable = !seen.etag.empty() || (r->status != 416 && has_size);
    if (comparable && seen.Version() != expected_version) {
      return Failed(Status::FailedPrecondition(fmt::format(
          "GET {}: version {} != expected {}", *url, seen.Version(), expected_version)));
    }
  }
  if (info != nullptr) *info = std::move(seen);
  if (r->status == 416 || length == 0) return std::string();
  std::string data = TrimToRange(std::move(r->body), r->status, offset, length);
  bytes_read_.fetch_add(data.size(), std::memory_order_relaxed);
  return data;
}

Result<ListPage> HttpStore::List(const ListOptions&) {
  return Status::Unimplemented(fmt::format("{}: HTTP stores cannot list", base_url_));
}

Result<std::unique_ptr<Writer>> HttpStore::OpenWrite(std::string_view key,
                                                     const ObjectHeaders&) {
  return Status::Unimplemented(fmt::format("{}: HTTP stores are read-only ('{}')", base_url_, key));
}

Status HttpStore::Delete(std::string_view key) {
  return Status::Unimplemented(fmt::format("{}: HTTP stores are read-only ('{}')", base_url_, key));
}

UnderStoreStats HttpStore::GetStats() const {
  UnderStoreStats s;
  s.stats = stats_.load(std::memory_order_relaxed);
  s.reads = reads_.load(std::memory_order_relaxed);
  s.bytes_read = bytes_read_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  s.retries = client_.Retries();
  return s;
}

Result<std::unique_ptr<UnderStore>> OpenHttpStore(std::string_view uri,
                                                  const HttpOptions& options) {
  SLUICE_RETURN_IF_ERROR(options.Validate());
  size_t scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos ||
      (uri.substr(0, scheme_end) != "http" && uri.substr(0, scheme_end) != "https")) {
    return Status::InvalidArgument(fmt::format("'{}': not an http(s):// URI", uri));
  }
  if (uri.find_first_of("?#") != std::string_view::npos) {
    return Status::InvalidArgument(fmt::format("'{}': query strings are not supported", uri));
  }
  std::string base(uri);
  while (base.size() > scheme_end + 3 && base.back() == '/') base.pop_back();
  if (base.size() == scheme_end + 3) {
    return Status::InvalidArgument(fmt::format("'{}': no host", uri));
  }
  return std::unique_ptr<UnderStore>(new HttpStore(std::move(base), options));
}

}  // namespace sluice::ufs
