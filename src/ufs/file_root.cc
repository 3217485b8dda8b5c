// File store root: file:///abs/dir?buckets, a local directory whose immediate
// subdirectories are buckets.
//
//   ListBuckets   the subdirectories whose names are valid bucket names (so never a
//                 dot-directory), sorted; creation time is the birth time (statx), or
//                 the mtime where the file system keeps none
//   CreateBucket  mkdir (an existing entry is kAlreadyExists)
//   DeleteBucket  rmdir (not empty: kFailedPrecondition "BucketNotEmpty: ...")
//   OpenBucket    OpenFileStore("file:///abs/dir/NAME")
// Calls go through an O_PATH descriptor of the root, opened once.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ufs/errno_status.h"
#include "ufs/factory.h"
#include "ufs/store_root_impl.h"

namespace sluice::ufs {
namespace {


// Whether `name` is a file:// writer's temporary file whose process is gone.
bool IsLeftoverTemp(std::string_view name) {
  if (!name.starts_with(kFileTempPrefix)) return false;
  name.remove_prefix(kFileTempPrefix.size());
  const size_t dash = name.find('-');
  if (dash == 0 || dash == std::string_view::npos) return false;
  pid_t pid = 0;
  for (char c : name.substr(0, dash)) {
    if (c < '0' || c > '9') return false;
    pid = pid * 10 + (c - '0');
  }
  return kill(pid, 0) != 0 && errno == ESRCH;
}

// Removes, below the directory `dir` (closed here), the temporary files of writers that
// are gone and the directories left empty. Objects are left alone.
void SweepLeftovers(int dir) {
  DIR* d = fdopendir(dir);
  if (d == nullptr) {
    close(dir);
    return;
  }
  std::vector<std::string> subdirs;
  while (struct dirent* e = readdir(d)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    if (e->d_type == DT_DIR) {
      subdirs.emplace_back(name);
    } else if ((e->d_type == DT_REG || e->d_type == DT_UNKNOWN) && IsLeftoverTemp(name)) {
      unlinkat(dirfd(d), e->d_name, 0);
    }
  }
  for (const auto& sub : subdirs) {
    int fd = openat(dirfd(d), sub.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    SweepLeftovers(fd);
    unlinkat(dirfd(d), sub.c_str(), AT_REMOVEDIR);  // fails, as it should, if not empty
  }
  closedir(d);
}

int64_t ToNs(const struct statx_timestamp& t) {
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

class FileRoot : public StoreRoot {
 public:
  FileRoot(std::string path, int fd) : path_(std::move(path)), uri_(Normalised(path_)), fd_(fd) {}
  ~FileRoot() override { close(fd_); }
  FileRoot(const FileRoot&) = delete;
  FileRoot& operator=(const FileRoot&) = delete;

  static std::string Normalised(const std::string& path) {
    return fmt::format("file://{}?buckets", path);
  }

  const std::string& Uri() const override { return uri_; }

  Result<std::vector<BucketInfo>> ListBuckets() override {
    int dir_fd = openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return ErrnoStatus(errno, fmt::format("ListBuckets {}", uri_));
    DIR* dir = fdopendir(dir_fd);
    if (dir == nullptr) {
      int err = errno;
      close(dir_fd);
      return ErrnoStatus(err, fmt::format("ListBuckets {}", uri_));
    }
    std::vector<BucketInfo> buckets;
    errno = 0;
    while (struct dirent* e = readdir(dir)) {
      if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
      if (!ValidateBucketName(e->d_name).ok()) continue;
      struct statx st;
      if (statx(fd_, e->d_name, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_BTIME | STATX_MTIME, &st) !=
              0 ||
          !S_ISDIR(st.stx_mode)) {
        continue;  // gone meanwhile, or not a directory
      }
      int64_t ns = (st.stx_mask & STATX_BTIME) ? ToNs(st.stx_btime) : ToNs(st.stx_mtime);
      buckets.push_back({e->d_name, ns});
      errno = 0;
    }
    int err = errno;
    closedir(dir);
    if (err != 0) return ErrnoStatus(err, fmt::format("ListBuckets {}", uri_));
    std::sort(buckets.begin(), buckets.end(),
              [](const BucketInfo& a, const BucketInfo& b) { return a.name < b.name; });
    return buckets;
  }

  Status CreateBucket(std::string_view name) override {
    SLUICE_RETURN_IF_ERROR(ValidateBucketName(name));
    std::string n(name);
    if (mkdirat(fd_, n.c_str(), 0755) != 0) {
      int err = errno;
      if (err == EEXIST) {
        return Status::AlreadyExists(
            fmt::format("BucketAlreadyExists: CreateBucket {} '{}'", uri_, name));
      }
      return ErrnoStatus(err, fmt::format("CreateBucket {} '{}'", uri_, name));
    }
    return Status::OK();
  }

  Status DeleteBucket(std::string_view name) override {
    SLUICE_RETURN_IF_ERROR(ValidateBucketName(name));
    std::string n(name);
    int rc = unlinkat(fd_, n.c_str(), AT_REMOVEDIR);
    if (rc != 0 && (errno == ENOTEMPTY || errno == EEXIST)) {
      // What a crashed writer left (its temporary files, the directories they were in)
      // is no object: a bucket holding only that is empty.
      if (int dir = openat(fd_, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          dir >= 0) {
        SweepLeftovers(dir);
        rc = unlinkat(fd_, n.c_str(), AT_REMOVEDIR);
      }
    }
    if (rc != 0) {
      int err = errno;
      if (err == ENOTEMPTY || err == EEXIST) {
        return Status::FailedPrecondition(fmt::format(
            "BucketNotEmpty: DeleteBucket {} '{}': the bucket holds objects", uri_, name));
      }
      return ErrnoStatus(err, fmt::format("DeleteBucket {} '{}'", uri_, name));
    }
    return Status::OK();
  }

  Result<std::unique_ptr<UnderStore>> OpenBucket(std::string_view name) override {
    SLUICE_RETURN_IF_ERROR(ValidateBucketName(name));
    std::string n(name);
    struct stat st;
    if (fstatat(fd_, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus(errno, fmt::format("OpenBucket {} '{}'", uri_, name));
    }
    if (!S_ISDIR(st.st_mode)) {
      return Status::NotFound(fmt::format("OpenBucket {} '{}': not a directory", uri_, name));
    }
    std::string base = path_ == "/" ? "" : path_;
    return OpenFileStore(fmt::format("file://{}/{}", base, name));
  }

 private:
  const std::string path_;  // absolute, no trailing '/' (unless "/")
  const std::string uri_;
  const int fd_;  // O_PATH descriptor of path_
};

}  // namespace

Result<std::unique_ptr<StoreRoot>> OpenFileRoot(std::string_view uri) {
  if (!uri.starts_with("file://")) return Status::InvalidArgument("not a file:// URI");
  std::string path(uri.substr(7, uri.find('?') - 7));
  if (path.empty() || path[0] != '/') {
    return Status::InvalidArgument(fmt::format("'{}': file:// needs an absolute path", uri));
  }
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  int fd = open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("open {}", uri));
  return std::unique_ptr<StoreRoot>(new FileRoot(std::move(path), fd));
}

}  // namespace sluice::ufs
