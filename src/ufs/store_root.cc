#include "ufs/store_root.h"

#include <fmt/format.h>

#include "ufs/store_root_impl.h"

namespace sluice::ufs {
namespace {

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// "a.b.c.d" with all-digit labels.
bool LooksLikeIpv4(std::string_view name) {
  int dots = 0;
  for (char c : name) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

}  // namespace

Status ValidateBucketName(std::string_view name) {
  auto invalid = [name](std::string_view why) {
    return Status::InvalidArgument(fmt::format("InvalidBucketName: '{}': {}", name, why));
  };
  if (name.size() < 3 || name.size() > 63) return invalid("must be 3 to 63 characters long");
  for (char c : name) {
    if (!IsAlnum(c) && c != '.' && c != '-') {
      return invalid("only lowercase letters, digits, '.' and '-' are allowed");
    }
  }
  if (!IsAlnum(name.front()) || !IsAlnum(name.back())) {
    return invalid("must start and end with a letter or digit");
  }
  if (name.find("..") != std::string_view::npos) return invalid("must not contain \"..\"");
  if (LooksLikeIpv4(name)) return invalid("must not be formatted as an IP address");
  return Status::OK();
}

bool IsStoreRootUri(std::string_view uri) {
  if (uri.starts_with("s3://")) {
    std::string_view rest = uri.substr(5);
    return rest.empty() || rest.front() == '?';
  }
  if (uri.starts_with("file://")) {
    size_t q = uri.find('?');
    return q != std::string_view::npos && uri.substr(q + 1) == "buckets";
  }
  return false;
}

Result<std::unique_ptr<StoreRoot>> OpenStoreRoot(std::string_view uri,
                                                 const UnderStoreOptions& options) {
  SLUICE_RETURN_IF_ERROR(options.Validate());
  if (!IsStoreRootUri(uri)) {
    return Status::InvalidArgument(
        fmt::format("'{}': not a store-root URI (use s3://[?endpoint=URL...] or "
                    "file:///dir?buckets)",
                    uri));
  }
  if (uri.starts_with("s3://")) return OpenS3Root(uri, options.s3);
  return OpenFileRoot(uri);
}

}  // namespace sluice::ufs
