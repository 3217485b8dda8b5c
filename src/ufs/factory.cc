#include "ufs/factory.h"

#include <fmt/format.h>

#include "ufs/fake_store.h"
#include "ufs/store_root.h"

namespace sluice::ufs {

Result<std::unique_ptr<UnderStore>> OpenUnderStore(std::string_view uri,
                                                   const UnderStoreOptions& options) {
  SLUICE_RETURN_IF_ERROR(options.Validate());
  if (IsStoreRootUri(uri)) {
    return Status::InvalidArgument(fmt::format(
        "'{}' names a whole store, not one bucket; mount it as a store root (OpenStoreRoot)", uri));
  }
  if (uri.starts_with("file://")) return OpenFileStore(uri);
  if (uri.starts_with("s3://")) return OpenS3Store(uri, options.s3);
  if (uri.starts_with("http://") || uri.starts_with("https://")) {
    return OpenHttpStore(uri, options.http);
  }
  if (uri.starts_with("mem://")) {
    return std::unique_ptr<UnderStore>(new FakeStore(std::string(uri)));
  }
  if (uri.starts_with("/")) return OpenFileStore(fmt::format("file://{}", uri));
  return Status::InvalidArgument(fmt::format(
      "'{}': unsupported under-store URI (use file://, s3://, http(s):// or mem://)", uri));
}

}  // namespace sluice::ufs
