// Internal to src/ufs: the pieces the store-root connectors (s3_root.cc, file_root.cc)
// share with store_root.cc. Not for use outside this folder.
//
// Thread-safety: pure functions; the roots they open are thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "ufs/options.h"
#include "ufs/store_root.h"

namespace sluice::ufs {

// OK for a valid S3 bucket name: 3-63 characters of lowercase letters, digits, '.' and
// '-', starting and ending with a letter or digit, no "..", not shaped like an IPv4
// address. Otherwise kInvalidArgument with a message starting "InvalidBucketName:".
Status ValidateBucketName(std::string_view name);

// REQUIRES: IsStoreRootUri(uri) and the matching scheme.
Result<std::unique_ptr<StoreRoot>> OpenS3Root(std::string_view uri, const S3Options& options);
Result<std::unique_ptr<StoreRoot>> OpenFileRoot(std::string_view uri);

}  // namespace sluice::ufs
