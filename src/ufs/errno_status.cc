#include "ufs/errno_status.h"

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>

namespace sluice::ufs {

Status ErrnoStatus(int err, std::string_view what) {
  std::string msg = fmt::format("{}: {}", what, std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status::NotFound(msg);
    case EXDEV:
    case ELOOP:
    case EACCES:
    case EPERM:
    case EROFS:
      return Status::PermissionDenied(msg);
    case ENOSPC:
    case EDQUOT:
      return Status::ResourceExhausted(msg);
    case EEXIST:
      return Status::AlreadyExists(msg);
    case EISDIR:
    case EINVAL:
    case ENAMETOOLONG:
      return Status::InvalidArgument(msg);
    default:
      return Status::IoError(msg);
  }
}

}  // namespace sluice::ufs
