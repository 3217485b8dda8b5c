// StoreRoot: a whole object store rather than one bucket of it — an S3 endpoint without a
// bucket (s3://?endpoint=URL, or s3:// with AWS_ENDPOINT_URL*), or a local directory whose
// subdirectories are buckets (file:///dir?buckets). A worker mounting a StoreRoot shows the
// store's buckets under their own names and passes CreateBucket/DeleteBucket through, so it
// can stand in front of the store as a transparent caching endpoint.
//
// Thread-safety: implementations are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ufs/options.h"
#include "ufs/under_store.h"

namespace sluice::ufs {

struct BucketInfo {
  std::string name;
  int64_t creation_ns = 0;
};

class StoreRoot {
 public:
  virtual ~StoreRoot() = default;
  // The URI this root was opened with (normalised).
  virtual const std::string& Uri() const = 0;
  virtual Result<std::vector<BucketInfo>> ListBuckets() = 0;
  // kAlreadyExists if it exists; kInvalidArgument for an invalid bucket name.
  virtual Status CreateBucket(std::string_view name) = 0;
  // kNotFound if absent; kFailedPrecondition ("BucketNotEmpty") if it holds objects.
  virtual Status DeleteBucket(std::string_view name) = 0;
  // An UnderStore for one bucket (kNotFound if the bucket does not exist).
  virtual Result<std::unique_ptr<UnderStore>> OpenBucket(std::string_view name) = 0;
};

// True for URIs that name a whole store: "s3://" or "s3://?..." (no bucket), and
// "file:///dir?buckets".
bool IsStoreRootUri(std::string_view uri);
Result<std::unique_ptr<StoreRoot>> OpenStoreRoot(std::string_view uri,
                                                 const UnderStoreOptions& options = {});

}  // namespace sluice::ufs
