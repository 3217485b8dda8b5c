// The one mapping from a POSIX errno to a Status, for the local-disk connectors
// (file:// stores and directory store roots). Thread-safe (pure function).
#pragma once

#include <string_view>

#include "sluice/status.h"

namespace sluice::ufs {

// "<what>: <strerror(err)>" with the code that fits: ENOENT/ENOTDIR -> kNotFound,
// EXDEV/ELOOP/EACCES/EPERM/EROFS -> kPermissionDenied (EXDEV and ELOOP are what
// openat2(RESOLVE_BENEATH) answers to an escape), ENOSPC/EDQUOT -> kResourceExhausted,
// EEXIST -> kAlreadyExists, EISDIR/EINVAL/ENAMETOOLONG -> kInvalidArgument, else kIoError.
Status ErrnoStatus(int err, std::string_view what);

}  // namespace sluice::ufs
