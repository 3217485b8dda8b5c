#include "ufs/fake_store.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "common/hash.h"

namespace sluice::ufs {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class FakeWriter : public Writer {
 public:
  FakeWriter(FakeStore* store, std::string key, ObjectHeaders headers)
      : store_(store), key_(std::move(key)), headers_(std::move(headers)) {}
  Status Append(std::string_view data) override {
    if (done_) return Status::FailedPrecondition("writer already closed");
    buf_.append(data);
    return Status::OK();
  }
  Result<ObjectInfo> Close() override {
    if (done_) return Status::FailedPrecondition("writer already closed");
    done_ = true;
    store_->Put(key_, buf_, headers_);
    return store_->Stat(key_);
  }
  void Abort() override { done_ = true; }

 private:
  FakeStore* store_;
  std::string key_;
  ObjectHeaders headers_;
  std::string buf_;
  bool done_ = false;
};

}  // namespace

FakeStore::FakeStore(std::string uri) : uri_(std::move(uri)) {}

void FakeStore::Put(std::string_view key, std::string_view data, const ObjectHeaders& headers) {
  std::lock_guard lock(mu_);
  Object& o = objects_[std::string(key)];
  o.data = std::string(data);
  o.headers = std::make_shared<const ObjectHeaders>(headers);
  o.etag = fmt::format("{:016x}-{}", Hash64(data), ++generation_);
  o.mtime_ns = NowNs();
}

void FakeStore::Erase(std::string_view key) {
  std::lock_guard lock(mu_);
  objects_.erase(std::string(key));
}

void FakeStore::FailNthCall(FakeOp op, int n, Status status) {
  std::lock_guard lock(mu_);
  nth_faults_[op] = {n, std::move(status)};
}

void FakeStore::FailAll(FakeOp op, Status status) {
  std::lock_guard lock(mu_);
  all_faults_[op] = std::move(status);
}

void FakeStore::ClearFaults() {
  std::lock_guard lock(mu_);
  nth_faults_.clear();
  all_faults_.clear();
  latency_ns_ = 0;
  truncate_reads_ = -1;
  corrupt_reads_ = false;
}

uint64_t FakeStore::CallCount(FakeOp op) const { return calls_[static_cast<int>(op)].load(); }

Status FakeStore::Enter(FakeOp op) {
  calls_[static_cast<int>(op)]++;
  if (int64_t ns = latency_ns_.load(); ns > 0) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
  }
  std::lock_guard lock(mu_);
  if (auto it = all_faults_.find(op); it != all_faults_.end()) {
    errors_++;
    return it->second;
  }
  if (auto it = nth_faults_.find(op); it != nth_faults_.end()) {
    if (--it->second.first == 0) {
      Status s = it->second.second;
      nth_faults_.erase(it);
      errors_++;
      return s;
    }
  }
  return Status::OK();
}

ObjectInfo FakeStore::InfoOf(const std::string& key, const Object& o) const {
  ObjectInfo info;
  info.key = key;
  info.size = o.data.size();
  info.etag = o.etag;
  info.mtime_ns = o.mtime_ns;
  info.headers = o.headers;
  return info;
}

Result<ObjectInfo> FakeStore::Stat(std::string_view key) {
  SLUICE_RETURN_IF_ERROR(Enter(FakeOp::kStat));
  SLUICE_RETURN_IF_ERROR(NormalizeKey(key).status());
  std::lock_guard lock(mu_);
  std::string k(key);
  if (auto it = objects_.find(k); it != objects_.end()) return InfoOf(k, it->second);
  // A key with children is a directory.
  std::string dir = k.empty() || k.back() == '/' ? k : k + "/";
  auto it = objects_.lower_bound(dir);
  if (it != objects_.end() && it->first.starts_with(dir)) {
    ObjectInfo info;
    info.key = k;
    info.is_dir = true;
    return info;
  }
  return Status::NotFound(fmt::format("{}: no such key '{}'", uri_, key));
}

Result<ListPage> FakeStore::List(const ListOptions& options) {
  SLUICE_RETURN_IF_ERROR(Enter(FakeOp::kList));
  if (options.max_keys <= 0) return Status::InvalidArgument("max_keys must be positive");
  std::lock_guard lock(mu_);
  ListPage page;
  std::string after = std::max(options.start_after, options.continuation_token);
  auto it = after.empty() ? objects_.lower_bound(options.prefix) : objects_.upper_bound(after);
  int n = 0;
  for (; it != objects_.end() && it->first.starts_with(options.prefix); ++it) {
    const std::string& k = it->first;
    std::string entry;  // the key or common prefix this object contributes
    bool is_prefix = false;
    if (!options.delimiter.empty()) {
      size_t pos = k.find(options.delimiter, options.prefix.size());
      if (pos != std::string::npos) {
        entry = k.substr(0, pos + options.delimiter.size());
        is_prefix = true;
      }
    }
    if (n == options.max_keys) {
      page.truncated = true;
      break;
    }
    if (is_prefix) {
      if (!page.common_prefixes.empty() && page.common_prefixes.back() == entry) continue;
      page.common_prefixes.push_back(entry);
      page.next_token = entry + "\xff";  // skip the rest of this prefix
    } else {
      page.objects.push_back(InfoOf(k, it->second));
      page.next_token = k;
    }
    ++n;
  }
  if (!page.truncated) page.next_token.clear();
  return page;
}

Result<std::string> FakeStore::Read(std::string_view key, uint64_t offset, uint64_t length,
                                    std::string_view expected_version) {
  SLUICE_RETURN_IF_ERROR(Enter(FakeOp::kRead));
  SLUICE_RETURN_IF_ERROR(NormalizeKey(key).status());
  std::string out;
  {
    std::lock_guard lock(mu_);
    auto it = objects_.find(std::string(key));
    if (it == objects_.end()) {
      return Status::NotFound(fmt::format("{}: no such key '{}'", uri_, key));
    }
    const Object& o = it->second;
    if (!expected_version.empty() && expected_version != o.etag) {
      return Status::FailedPrecondition(
          fmt::format("{}: '{}' changed (version {} != {})", uri_, key, o.etag, expected_version));
    }
    if (offset < o.data.size()) out = o.data.substr(offset, length);
  }
  if (int64_t t = truncate_reads_.load(); t >= 0 && out.size() > static_cast<uint64_t>(t)) {
    out.resize(static_cast<size_t>(t));
  }
  if (corrupt_reads_ && !out.empty()) out[0] = static_cast<char>(~out[0]);
  bytes_read_ += out.size();
  return out;
}

Result<ReadResult> FakeStore::ReadWithInfo(std::string_view key, uint64_t offset,
                                           uint64_t length) {
  // One call, counted as a read: the info is taken under the same lock as the bytes.
  ObjectInfo info;
  {
    std::lock_guard lock(mu_);
    auto it = objects_.find(std::string(key));
    if (it != objects_.end()) info = InfoOf(it->first, it->second);
  }
  if (info.key.empty()) {
    SLUICE_RETURN_IF_ERROR(Enter(FakeOp::kRead));
    return Status::NotFound(fmt::format("{}: no such key '{}'", uri_, key));
  }
  SLUICE_ASSIGN_OR_RETURN(std::string data, Read(key, offset, length, info.Version()));
  return ReadResult{std::move(data), std::move(info)};
}

Result<std::unique_ptr<Writer>> FakeStore::OpenWrite(std::string_view key,
                                                     const ObjectHeaders& headers) {
  SLUICE_RETURN_IF_ERROR(Enter(FakeOp::kWrite));
  SLUICE_RETURN_IF_ERROR(NormalizeKey(key).status());
  return std::unique_ptr<Writer>(new FakeWriter(this, std::string(key), headers));
}

Status FakeStore::Delete(std::string_view key) {
  SLUICE_RETURN_IF_ERROR(Enter(FakeOp::kDelete));
  SLUICE_RETURN_IF_ERROR(NormalizeKey(key).status());
  std::lock_guard lock(mu_);
  if (objects_.erase(std::string(key)) == 0) {
    return Status::NotFound(fmt::format("{}: no such key '{}'", uri_, key));
  }
  return Status::OK();
}

UnderStoreStats FakeStore::GetStats() const {
  UnderStoreStats s;
  s.stats = CallCount(FakeOp::kStat);
  s.lists = CallCount(FakeOp::kList);
  s.reads = CallCount(FakeOp::kRead);
  s.writes = CallCount(FakeOp::kWrite);
  s.deletes = CallCount(FakeOp::kDelete);
  s.bytes_read = bytes_read_;
  s.errors = errors_;
  return s;
}

}  // namespace sluice::ufs
