#include "ufs/options.h"

namespace sluice::ufs {

Status S3Options::Validate() const {
  if (max_retries < 0 || max_retries > 20) {
    return Status::InvalidArgument("s3.max_retries must be between 0 and 20");
  }
  if (!addressing.empty() && addressing != "path" && addressing != "virtual") {
    return Status::InvalidArgument("s3.addressing must be 'path' or 'virtual'");
  }
  if (part_size < 5 * kMiB) return Status::InvalidArgument("s3.part_size must be at least 5MiB");
  if (part_size > 5 * kGiB) return Status::InvalidArgument("s3.part_size must be at most 5GiB");
  if (multipart_threshold < part_size) {
    return Status::InvalidArgument("s3.multipart_threshold must be at least s3.part_size");
  }
  if (request_timeout.count() <= 0 || connect_timeout.count() <= 0) {
    return Status::InvalidArgument("s3 timeouts must be positive");
  }
  if (access_key.empty() != secret_key.empty()) {
    return Status::InvalidArgument("s3.access_key and s3.secret_key must be set together");
  }
  return Status::OK();
}

Status HttpOptions::Validate() const {
  if (max_retries < 0 || max_retries > 20) {
    return Status::InvalidArgument("http.max_retries must be between 0 and 20");
  }
  if (request_timeout.count() <= 0 || connect_timeout.count() <= 0) {
    return Status::InvalidArgument("http timeouts must be positive");
  }
  return Status::OK();
}

Status UnderStoreOptions::Validate() const {
  SLUICE_RETURN_IF_ERROR(s3.Validate());
  return http.Validate();
}

}  // namespace sluice::ufs
