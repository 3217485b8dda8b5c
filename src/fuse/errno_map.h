// The one place a Sluice Status becomes an errno for the kernel (docs/fuse.md).
#pragma once

#include "sluice/status.h"

namespace sluice::fuse {

// NotFound ENOENT, AlreadyExists EEXIST, PermissionDenied EACCES, InvalidArgument EINVAL,
// OutOfRange EINVAL, FailedPrecondition ESTALE (the object changed under an open file),
// ResourceExhausted ENOSPC, Unimplemented ENOTSUP, DeadlineExceeded ETIMEDOUT,
// Unavailable EIO (no worker and no under store answered), anything else EIO.
int ErrnoOf(const Status& s);

}  // namespace sluice::fuse
