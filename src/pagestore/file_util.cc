#include "pagestore/file_util.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::pagestore {

ScopedFd::~ScopedFd() { Close(); }

int ScopedFd::Close() {
  if (fd_ < 0) return 0;
  const int rc = ::close(fd_);
  fd_ = -1;
  return rc == 0 ? 0 : errno;
}

int WriteFull(int fd, const char* data, size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return 0;
}

int ReadFullAt(int fd, char* data, size_t len, uint64_t offset) {
  while (len > 0) {
    const ssize_t n = ::pread(fd, data, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return -1;
    data += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return 0;
}

int FsyncDir(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.ok()) return errno;
  if (::fsync(fd.get()) != 0) return errno;
  return fd.Close();
}

Status ErrnoStatus(int err, std::string_view what) {
  std::string message = fmt::format("{}: {}", what, std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return Status::ResourceExhausted(std::move(message));
  return Status::IoError(std::move(message));
}

}  // namespace sluice::pagestore
