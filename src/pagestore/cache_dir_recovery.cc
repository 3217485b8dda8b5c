// CacheDir::Lock and CacheDir::Recover: opening a cache directory after a restart.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <random>

#include "common/logging.h"
#include "pagestore/cache_dir.h"
#include "pagestore/disk_format.h"
#include "pagestore/file_util.h"

namespace sluice::pagestore {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kIdFileName = "DIR_ID";

struct RecoveredPage {
  PageKey key;
  uint64_t bytes = 0;
  struct timespec mtime {};
};

// Validates one page file from its header and size alone (no data is read).
bool ReadPageHeader(const std::string& path, const PageKey& expected, RecoveredPage* page) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0) return false;
  if (static_cast<uint64_t>(st.st_size) < kPageHeaderSize) return false;
  char bytes[kPageHeaderSize];
  if (ReadFullAt(fd.get(), bytes, kPageHeaderSize, 0) != 0) return false;
  PageHeader header;
  if (!DecodePageHeader(std::span<const char, kPageHeaderSize>(bytes), &header)) return false;
  if (header.key != expected) return false;
  if (header.data_length + kPageHeaderSize != static_cast<uint64_t>(st.st_size)) return false;
  *page = RecoveredPage{expected, header.data_length, st.st_mtim};
  return true;
}

bool IsFanOutName(std::string_view name) {
  return name.size() == 2 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

Status CacheDir::Lock() {
  const std::string root = PagesRoot();
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::IoError(fmt::format("create cache directory {}: {}", root, ec.message()));
  const std::string lock_path = fmt::format("{}/{}", root, kLockFileName);
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return ErrnoStatus(errno, fmt::format("open {}", lock_path));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition(
          fmt::format("cache directory {} is in use by another store or process", path_));
    }
    return ErrnoStatus(errno, fmt::format("lock {}", lock_path));
  }
  // The placement id: random, written once, so that renaming or reordering directories
  // does not move pages between them.
  const std::string id_path = fmt::format("{}/{}", root, kIdFileName);
  ScopedFd id_fd(::open(id_path.c_str(), O_RDONLY | O_CLOEXEC));
  char hex[17] = {};
  if (id_fd.ok() && ReadFullAt(id_fd.get(), hex, 16, 0) == 0) {
    auto [ptr, err] = std::from_chars(hex, hex + 16, id_, 16);
    if (err == std::errc() && ptr == hex + 16) return Status::OK();
  }
  id_ = std::random_device{}() * 0x100000000ULL + std::random_device{}();
  const std::string tmp = id_path + ".tmp";
  ScopedFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  const std::string text = fmt::format("{:016x}\n", id_);
  int err = out.ok() ? WriteFull(out.get(), text.data(), text.size()) : errno;
  if (err == 0) err = out.Close();
  if (err == 0 && ::rename(tmp.c_str(), id_path.c_str()) != 0) err = errno;
  if (err != 0) return ErrnoStatus(err, fmt::format("write {}", id_path));
  return Status::OK();
}

Status CacheDir::Recover(const std::function<bool(const PageKey&)>& belongs) {
  const std::string root = PagesRoot();
  std::vector<RecoveredPage> pages;
  uint64_t temps = 0, invalid = 0, misplaced = 0;
  std::error_code ec;
  // Iterated with error codes throughout: a range-for's increment throws on a read error
  // (EIO from a failing disk), which would end the process from the recovery thread.
  const fs::directory_iterator end;
  for (auto it = fs::directory_iterator(root, ec); !ec && it != end; it.increment(ec)) {
    const fs::directory_entry& sub = *it;
    const std::string sub_name = sub.path().filename().string();
    std::error_code type_ec;
    if (!IsFanOutName(sub_name) || !sub.is_directory(type_ec)) continue;
    std::error_code sub_ec;
    for (auto f = fs::directory_iterator(sub.path(), sub_ec); !sub_ec && f != end;
         f.increment(sub_ec)) {
      const fs::directory_entry& file = *f;
      const std::string name = file.path().filename().string();
      const std::string path = file.path().string();
      if (IsTempFileName(name)) {  // a write that never reached its rename
        ::unlink(path.c_str());
        ++temps;
        continue;
      }
      PageKey key;
      if (!ParsePageFileName(name, &key) || PageFileName(key) != name ||
          PageSubdirName(key.file_id) != sub_name) {
        continue;  // not ours: leave it alone
      }
      RecoveredPage page;
      if (!ReadPageHeader(path, key, &page)) {
        ::unlink(path.c_str());
        ++invalid;
      } else if (!belongs(key)) {
        ::unlink(path.c_str());
        ++misplaced;
      } else {
        pages.push_back(page);
      }
    }
    if (sub_ec) {
      return Status::IoError(fmt::format("scan {}: {}", sub.path().string(), sub_ec.message()));
    }
  }
  if (ec) return Status::IoError(fmt::format("scan {}: {}", root, ec.message()));

  // Oldest first, so the policy's queues start in write order.
  std::sort(pages.begin(), pages.end(), [](const RecoveredPage& a, const RecoveredPage& b) {
    if (a.mtime.tv_sec != b.mtime.tv_sec) return a.mtime.tv_sec < b.mtime.tv_sec;
    if (a.mtime.tv_nsec != b.mtime.tv_nsec) return a.mtime.tv_nsec < b.mtime.tv_nsec;
    return a.key < b.key;
  });
  uint64_t trimmed = 0;
  std::lock_guard lock(mu_);
  for (const RecoveredPage& page : pages) {
    // The quota may have shrunk since the pages were written: evict down to it.
    while (bytes_used_ + page.bytes > quota_) {
      std::optional<PageKey> victim = policy_->Evict();
      if (!victim) break;
      auto it = index_.find(*victim);
      if (it == index_.end()) continue;
      EraseLocked(it, /*in_policy=*/false, /*unlink_file=*/true);
      ++trimmed;
    }
    if (bytes_used_ + page.bytes > quota_) {  // a policy that never evicts: drop the newest
      ::unlink(
          fmt::format("{}/{}/{}", root, PageSubdirName(page.key.file_id), PageFileName(page.key))
              .c_str());
      ++trimmed;
      continue;
    }
    InsertLocked(page.key, page.bytes, /*pinned=*/false, groups_.State(0), /*charged=*/false);
  }
  if (index_.empty() && temps + invalid + misplaced + trimmed == 0) {
    SLUICE_LOG_DEBUG("disk cache {}: opened empty (quota {} bytes)", path_, quota_);
  } else {
    SLUICE_LOG_INFO(
        "disk cache {}: recovered {} pages ({} bytes of {}); removed {} temp files, {} invalid, "
        "{} misplaced, {} over quota",
        path_, index_.size(), bytes_used_, quota_, temps, invalid, misplaced, trimmed);
  }
  return Status::OK();
}

}  // namespace sluice::pagestore
