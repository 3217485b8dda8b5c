#include "fuse/errno_map.h"

#include <cerrno>

namespace sluice::fuse {

int ErrnoOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kNotFound: return ENOENT;
    case StatusCode::kAlreadyExists: return EEXIST;
    case StatusCode::kPermissionDenied: return EACCES;
    case StatusCode::kInvalidArgument: return EINVAL;
    case StatusCode::kOutOfRange: return EINVAL;
    case StatusCode::kFailedPrecondition: return ESTALE;
    case StatusCode::kResourceExhausted: return ENOSPC;
    case StatusCode::kUnimplemented: return ENOTSUP;
    case StatusCode::kDeadlineExceeded: return ETIMEDOUT;
    default: return EIO;
  }
}

}  // namespace sluice::fuse
