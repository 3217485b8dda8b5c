// Opens an UnderStore from a URI:
//   file:///abs/dir                      a local or NFS directory (keys are paths below it)
//   s3://bucket[/prefix][?endpoint=URL&region=R&addressing=path|virtual]
//   http://host[:port]/base, https://...  read-only HTTP origin (HEAD + ranged GET)
//   mem://name                           the in-memory fake (tests)
// A store-root URI (store_root.h: s3:// without a bucket, file:///dir?buckets) is
// kInvalidArgument here: open it with OpenStoreRoot.
// Thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "ufs/options.h"
#include "ufs/under_store.h"

namespace sluice::ufs {

Result<std::unique_ptr<UnderStore>> OpenUnderStore(std::string_view uri,
                                                   const UnderStoreOptions& options = {});

// Implemented by each connector.
Result<std::unique_ptr<UnderStore>> OpenFileStore(std::string_view uri);
// A file:// object being written lives as "<kFileTempPrefix><pid>-<n>" beside its final
// name until Close renames it; listings never show such names.
inline constexpr std::string_view kFileTempPrefix = ".sluice-tmp-";
Result<std::unique_ptr<UnderStore>> OpenS3Store(std::string_view uri, const S3Options& options);
Result<std::unique_ptr<UnderStore>> OpenHttpStore(std::string_view uri, const HttpOptions& options);

}  // namespace sluice::ufs
