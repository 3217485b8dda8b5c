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

Status ReplaceFileDurably(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  auto failed = [&](const char* what, int err) {
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, fmt::format("cannot write {}: {}", path, what));
  };
  ScopedFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.ok()) return failed("open", errno);
  if (int err = WriteFull(fd.get(), bytes.data(), bytes.size()); err != 0) {
    return failed("write", err);
  }
  if (::fsync(fd.get()) != 0) return failed("fsync", errno);
  if (int err = fd.Close(); err != 0) return failed("close", err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return failed("rename", errno);
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (int err = FsyncDir(dir); err != 0) return ErrnoStatus(err, "fsync of " + dir);
  return Status::OK();
}

Status ErrnoStatus(int err, std::string_view what) {
  std::string message = fmt::format("{}: {}", what, std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return Status::ResourceExhausted(std::move(message));
  return Status::IoError(std::move(message));
}

}  // namespace sluice::pagestore
