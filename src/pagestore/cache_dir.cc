#include "pagestore/cache_dir.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/logging.h"
#include "pagestore/disk_format.h"
#include "pagestore/file_util.h"

namespace sluice::pagestore {
namespace {

// Log the 1st, 2nd, 4th, 8th... occurrence, so a dead disk cannot flood the log.
bool ShouldLog(uint64_t count) { return (count & (count - 1)) == 0; }

// Rounds of "evict the group's pages in other directories, then retry" before a Put whose
// group keeps refilling from other threads gives up.
constexpr int kQuotaAttempts = 4;

}  // namespace

CacheDir::CacheDir(std::string path, uint64_t quota, std::unique_ptr<EvictionPolicy> policy,
                   bool fsync, GroupLedger* ledger)
    : path_(std::move(path)),
      quota_(quota),
      fsync_(fsync),
      policy_(std::move(policy)),
      groups_(ledger) {}

CacheDir::~CacheDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::string CacheDir::PagesRoot() const { return fmt::format("{}/{}", path_, kPagesDirName); }

std::string CacheDir::SubdirPath(const Hash128& file_id) const {
  return fmt::format("{}/{}/{}", path_, kPagesDirName, PageSubdirName(file_id));
}

std::string CacheDir::PagePath(const PageKey& key) const {
  return fmt::format("{}/{}", SubdirPath(key.file_id), PageFileName(key));
}

void CacheDir::CountIoErrorLocked(const std::string& what) {
  ++stats_.io_errors;
  if (ShouldLog(stats_.io_errors)) {
    SLUICE_LOG_WARN("disk cache {}: {} ({} I/O errors so far)", path_, what, stats_.io_errors);
  }
}

std::optional<size_t> CacheDir::Read(const PageKey& key, size_t offset, std::span<char> out) {
  uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) {
      ++stats_.misses;
      return std::nullopt;
    }
    generation = it->second.generation;
  }
  const std::string path = PagePath(key);
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0) {
    const int err = errno;
    // Running out of descriptors or memory says nothing about the page: keep it.
    const bool transient = err == EMFILE || err == ENFILE || err == ENOMEM || err == EINTR;
    FailRead(key, generation, transient ? ReadFailure::kTransient : ReadFailure::kIo,
             fmt::format("open {}: {}", path, std::strerror(err)));
    return std::nullopt;
  }
  if (static_cast<uint64_t>(st.st_size) < kPageHeaderSize) {
    FailRead(key, generation, ReadFailure::kCorrupt, fmt::format("{} is truncated", path));
    return std::nullopt;
  }
  // The file's own size decides how much to read: a concurrent replace may have changed it.
  // No page is over 16 MiB: a larger file is not one of ours (not read into memory).
  const uint64_t length = static_cast<uint64_t>(st.st_size) - kPageHeaderSize;
  if (length > kMaxPageBytes) {
    FailRead(key, generation, ReadFailure::kCorrupt,
             fmt::format("{} is {} bytes, more than any page", path, st.st_size));
    return std::nullopt;
  }
  char header_bytes[kPageHeaderSize];
  std::unique_ptr<char[]> scratch;
  char* data = out.data();
  const bool direct = offset == 0 && out.size() >= length;  // whole page: no extra copy
  if (!direct) {
    scratch = std::make_unique_for_overwrite<char[]>(length);
    data = scratch.get();
  }
  int err = ReadFullAt(fd.get(), header_bytes, kPageHeaderSize, 0);
  if (err == 0) err = ReadFullAt(fd.get(), data, length, kPageHeaderSize);
  if (err > 0) {
    FailRead(key, generation, ReadFailure::kIo,
             fmt::format("read {}: {}", path, std::strerror(err)));
    return std::nullopt;
  }
  PageHeader header;
  if (err != 0 ||
      !DecodePageHeader(std::span<const char, kPageHeaderSize>(header_bytes), &header) ||
      header.key != key || header.data_length != length ||
      Checksum(data, length) != header.data_checksum) {
    FailRead(key, generation, ReadFailure::kCorrupt,
             fmt::format("page file {} failed its checksum", path));
    return std::nullopt;
  }
  const size_t n = offset < length ? std::min<size_t>(out.size(), length - offset) : 0;
  if (!direct && n > 0) std::memcpy(out.data(), data + offset, n);
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it != index_.end() && !it->second.pinned) policy_->OnAccess(key);
  ++stats_.hits;
  stats_.bytes_read += n;
  return n;
}

void CacheDir::FailRead(const PageKey& key, uint64_t generation, ReadFailure kind,
                        const std::string& what) {
  std::lock_guard lock(mu_);
  ++stats_.misses;
  auto it = index_.find(key);
  if (it == index_.end() || it->second.generation != generation) return;  // raced: not ours
  if (kind == ReadFailure::kTransient) {
    CountIoErrorLocked(what);
    return;
  }
  if (kind == ReadFailure::kCorrupt) {
    ++stats_.checksum_failures;
    SLUICE_LOG_WARN("disk cache {}: dropping page {}: {}", path_, key.ToString(), what);
  } else {
    CountIoErrorLocked(what);
  }
  EraseLocked(it, /*in_policy=*/true, /*unlink_file=*/true);
}

Status CacheDir::WriteTemp(const PageKey& key, std::string_view data, std::string* tmp_path) {
  const std::string subdir = SubdirPath(key.file_id);
  *tmp_path = fmt::format("{}/{}", subdir, TempFileName(key, ++temp_counter_));
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  ScopedFd fd(::open(tmp_path->c_str(), flags, 0644));
  if (!fd.ok() && errno == ENOENT) {
    // Fan-out directories are made on demand; the top-level one never is, so a vanished
    // cache directory keeps failing instead of filling the filesystem beneath it.
    if (::mkdir(subdir.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, fmt::format("create {}", subdir));
    }
    fd.Reset(::open(tmp_path->c_str(), flags, 0644));
  }
  if (!fd.ok()) return ErrnoStatus(errno, fmt::format("create {}", *tmp_path));
  char header_bytes[kPageHeaderSize];
  EncodePageHeader(PageHeader{key, data.size(), Checksum(data.data(), data.size())},
                   std::span<char, kPageHeaderSize>(header_bytes));
  int err = WriteFull(fd.get(), header_bytes, kPageHeaderSize);
  if (err == 0) err = WriteFull(fd.get(), data.data(), data.size());
  if (err == 0 && fsync_ && ::fsync(fd.get()) != 0) err = errno;
  const int close_err = fd.Close();
  if (err == 0) err = close_err;
  if (err != 0) {
    ::unlink(tmp_path->c_str());
    return ErrnoStatus(err, fmt::format("write {}", *tmp_path));
  }
  return Status::OK();
}

Status CacheDir::CheckAdmissionLocked(const PageKey& key, uint64_t size, uint32_t group,
                                      bool ask_policy) {
  auto refuse = [&](std::string why) {
    ++stats_.admissions_refused;
    return Status::ResourceExhausted(
        fmt::format("disk cache {}: page {} refused: {}", path_, key.ToString(), why));
  };
  if (size > quota_) return refuse(fmt::format("{} bytes exceed the quota of {}", size, quota_));
  auto it = index_.find(key);
  const bool held = it != index_.end();
  const uint64_t old_bytes = held ? it->second.bytes : 0;
  const bool old_pinned = held && it->second.pinned;
  const uint64_t unevictable = pinned_bytes_ - (old_pinned ? old_bytes : 0);
  if (unevictable + size > quota_) {
    return refuse(fmt::format("{} of {} bytes are pinned", unevictable, quota_));
  }
  const GroupState* state = groups_.State(group);
  const uint64_t release = held && it->second.group.state == state ? old_bytes : 0;
  const GroupCheck check = GroupQueues::Check(state, size, release, old_pinned ? release : 0);
  if (check.refused) {
    return refuse(
        fmt::format("{} bytes do not fit the quota of group {} ({} bytes) beside the "
                    "group's pinned pages",
                    size, group, check.quota));
  }
  const bool full = bytes_used_ - old_bytes - check.local_frees + size > quota_;
  if (ask_policy && (full || !held) && !policy_->ShouldAdmit(key, full)) {
    return refuse(fmt::format("full, and eviction policy '{}' admits no more", policy_->Name()));
  }
  return Status::OK();
}

Status CacheDir::Put(const PageKey& key, std::string_view data, const PutOptions& options,
                     const EvictElsewhere& evict_elsewhere) {
  const uint64_t size = data.size();
  {
    std::lock_guard lock(mu_);
    SLUICE_RETURN_IF_ERROR(CheckAdmissionLocked(key, size, options.group, /*ask_policy=*/true));
  }
  std::string tmp;
  if (Status s = WriteTemp(key, data, &tmp); !s.ok()) {
    std::lock_guard lock(mu_);
    CountIoErrorLocked(s.message());
    return s;
  }
  for (int attempt = 1;; ++attempt) {
    uint64_t shortfall = 0;
    {
      std::lock_guard lock(mu_);
      Status s = CommitLocked(key, size, options, tmp, &shortfall);
      if (shortfall == 0) return s;
    }
    if (attempt == kQuotaAttempts || evict_elsewhere(options.group, shortfall) == 0) {
      ::unlink(tmp.c_str());
      std::lock_guard lock(mu_);
      ++stats_.admissions_refused;
      return Status::ResourceExhausted(
          fmt::format("disk cache {}: page {} refused: group {} is at its quota and nothing of "
                      "it is evictable",
                      path_, key.ToString(), options.group));
    }
  }
}

Status CacheDir::CommitLocked(const PageKey& key, uint64_t size, const PutOptions& options,
                              const std::string& tmp, uint64_t* shortfall) {
  // Pins and groups may have changed while writing; the policy already admitted the page.
  if (Status s = CheckAdmissionLocked(key, size, options.group, /*ask_policy=*/false); !s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  auto held = index_.find(key);
  uint64_t old_bytes = held != index_.end() ? held->second.bytes : 0;
  const bool old_pinned = held != index_.end() && held->second.pinned;
  GroupState* group = groups_.State(options.group);
  const bool same_group = held != index_.end() && held->second.group.state == group;
  const uint64_t release = same_group ? old_bytes : 0;
  GroupReservation quota = groups_.Reserve(group, key, size, release, old_pinned ? release : 0);
  if (quota.outcome == GroupReservation::kShortfall) {
    *shortfall = quota.shortfall;
    return Status::OK();
  }
  if (quota.outcome == GroupReservation::kRefused) {
    ::unlink(tmp.c_str());
    ++stats_.admissions_refused;
    return Status::ResourceExhausted(
        fmt::format("disk cache {}: page {} refused: it does not fit the quota of group {}", path_,
                    key.ToString(), options.group));
  }
  for (const PageKey& victim : quota.victims) {
    auto it = index_.find(victim);  // queued, so held
    ++stats_.evictions;
    ++stats_.quota_evictions;
    stats_.bytes_evicted += it->second.bytes;
    EraseLocked(it, /*in_policy=*/true, /*unlink_file=*/true, /*charged=*/true);
  }
  // Gives back the reservation of a page that will not be stored. The replaced page's
  // bytes were released with it: they go back too while it is still held.
  auto unreserve = [&] {
    GroupQueues::Refund(group, size - (same_group && index_.contains(key) ? release : 0));
  };
  bool replaced_evicted = false;  // the old copy's file is left for the rename to replace
  while (bytes_used_ - old_bytes + size > quota_) {
    std::optional<PageKey> victim = policy_->Evict();
    if (!victim) {
      ::unlink(tmp.c_str());
      unreserve();
      ++stats_.admissions_refused;
      return Status::ResourceExhausted(fmt::format(
          "disk cache {}: page {} refused: full, nothing evictable", path_, key.ToString()));
    }
    auto it = index_.find(*victim);
    if (it == index_.end()) continue;  // defensive: policy and index disagree
    const bool replaced = *victim == key;
    if (replaced) {
      old_bytes = 0;
      replaced_evicted = true;
    }
    ++stats_.evictions;
    stats_.bytes_evicted += it->second.bytes;
    EraseLocked(it, /*in_policy=*/false, /*unlink_file=*/!replaced,
                /*charged=*/replaced && same_group);
  }
  const std::string path = PagePath(key);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = ErrnoStatus(errno, fmt::format("rename {} to {}", tmp, path));
    ::unlink(tmp.c_str());
    // Evicted above but left on disk for the rename: no longer indexed nor counted, so it
    // must not stay (the directory would hold more than its quota until a restart).
    if (replaced_evicted) ::unlink(path.c_str());
    unreserve();
    CountIoErrorLocked(s.message());
    return s;
  }
  if (fsync_) {
    if (int err = FsyncDir(SubdirPath(key.file_id)); err != 0) {
      CountIoErrorLocked(fmt::format("fsync {}: {}", path, std::strerror(err)));
    }
  }
  bool pinned = options.pinned;
  if (auto it = index_.find(key); it != index_.end()) {
    pinned = pinned || it->second.pinned;  // a re-put keeps a pin
    // The rename replaced its file.
    EraseLocked(it, /*in_policy=*/true, /*unlink_file=*/false, /*charged=*/same_group);
  }
  InsertLocked(key, size, pinned, group, /*charged=*/true);
  ++stats_.puts;
  stats_.bytes_written += size;
  return Status::OK();
}

void CacheDir::InsertLocked(const PageKey& key, uint64_t bytes, bool pinned, GroupState* group,
                            bool charged) {
  index_[key] =
      Entry{bytes, ++next_generation_, pinned, groups_.Add(group, key, bytes, pinned, charged)};
  files_.Add(key);
  bytes_used_ += bytes;
  if (pinned) {
    pinned_bytes_ += bytes;
    ++pinned_pages_;
  } else {
    policy_->OnInsert(key, bytes);
  }
}

void CacheDir::EraseLocked(Index::iterator it, bool in_policy, bool unlink_file, bool charged) {
  const PageKey key = it->first;
  const Entry& e = it->second;
  groups_.Remove(e.group, e.bytes, e.pinned, charged);
  if (e.pinned) {
    pinned_bytes_ -= e.bytes;
    --pinned_pages_;
  } else if (in_policy) {
    policy_->OnRemove(key);
  }
  bytes_used_ -= e.bytes;
  files_.Remove(key);
  index_.erase(it);
  if (unlink_file) {
    const std::string path = PagePath(key);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      CountIoErrorLocked(fmt::format("unlink {}: {}", path, std::strerror(errno)));
    }
  }
}

bool CacheDir::Contains(const PageKey& key) const {
  std::lock_guard lock(mu_);
  return index_.contains(key);
}

std::optional<size_t> CacheDir::PageSize(const PageKey& key) const {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  return it->second.bytes;
}

bool CacheDir::Remove(const PageKey& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  EraseLocked(it, /*in_policy=*/true, /*unlink_file=*/true);
  return true;
}

size_t CacheDir::RemoveFile(const Hash128& file_id) {
  std::lock_guard lock(mu_);
  size_t removed = 0;
  for (uint64_t index : files_.Indices(file_id)) {
    auto it = index_.find(PageKey{file_id, index});
    if (it == index_.end()) continue;
    EraseLocked(it, /*in_policy=*/true, /*unlink_file=*/true);
    ++removed;
  }
  return removed;
}

size_t CacheDir::SetPinned(const Hash128& file_id, bool pinned) {
  std::lock_guard lock(mu_);
  size_t changed = 0;
  for (uint64_t index : files_.Indices(file_id)) {
    const PageKey key{file_id, index};
    auto it = index_.find(key);
    if (it == index_.end() || it->second.pinned == pinned) continue;
    Entry& e = it->second;
    e.pinned = pinned;
    groups_.SetPinned(&e.group, key, e.bytes, pinned);
    if (pinned) {
      policy_->OnRemove(key);
      pinned_bytes_ += e.bytes;
      ++pinned_pages_;
    } else {
      pinned_bytes_ -= e.bytes;
      --pinned_pages_;
      policy_->OnInsert(key, e.bytes);
    }
    ++changed;
  }
  return changed;
}

void CacheDir::CollectKeys(std::vector<PageKey>* keys) const {
  std::lock_guard lock(mu_);
  for (const auto& [key, entry] : index_) keys->push_back(key);
}

PageStoreStats CacheDir::GetStats() const {
  std::lock_guard lock(mu_);
  PageStoreStats s = stats_;
  s.pages = index_.size();
  s.bytes_used = bytes_used_;
  s.capacity = quota_;
  s.pinned_pages = pinned_pages_;
  return s;
}

}  // namespace sluice::pagestore
