// Small POSIX file helpers for the disk tier and the worker's state files: full reads and
// writes that retry on EINTR and short transfers, an owning fd, a durable replace, and
// errno-to-Status mapping.
//
// Thread-safety: pure functions over the caller's descriptors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice::pagestore {

// Closes a descriptor on destruction.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ~ScopedFd();
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  // Closes now; returns 0 or the errno of close().
  int Close();
  // Closes the current descriptor and owns `fd` instead.
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }

 private:
  int fd_;
};

// Writes all of `data` at the current position; returns 0 or an errno.
int WriteFull(int fd, const char* data, size_t len);
// Reads exactly `len` bytes at `offset`; returns 0, an errno, or -1 for end of file.
int ReadFullAt(int fd, char* data, size_t len, uint64_t offset);
// fsyncs a directory (after a rename, for durability); returns 0 or an errno.
int FsyncDir(const std::string& path);

// Replaces the file at `path` with `bytes`, durably: written to `path` + ".tmp", fsync'ed,
// renamed over `path`, and the directory fsync'ed. On any failure (a full disk included)
// the temporary file is removed and the old file is left as it was; the error names
// `path` (kResourceExhausted for ENOSPC/EDQUOT).
Status ReplaceFileDurably(const std::string& path, std::string_view bytes);

// kResourceExhausted for ENOSPC/EDQUOT, kIoError otherwise: "<what>: <strerror>".
Status ErrnoStatus(int err, std::string_view what);

}  // namespace sluice::pagestore
