// Options for opening under stores. Plain structs with defaults; Validate() reports
// the first bad field. Composed into the service config (worker/config.h).
#pragma once

#include <cstdint>
#include <string>

#include "common/units.h"
#include "sluice/status.h"

namespace sluice::ufs {

struct S3Options {
  // Endpoint URL (http://host:port). Empty: from the URI's ?endpoint=, then
  // AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then https://s3.<region>.amazonaws.com.
  std::string endpoint;
  // Region for SigV4. Empty: from ?region=, then AWS_REGION / AWS_DEFAULT_REGION, else us-east-1.
  std::string region;
  // Credentials. Empty: the environment, web identity, the shared credentials file, the
  // container endpoint, instance metadata (ufs/s3_config.h); none: unsigned requests.
  std::string access_key;
  std::string secret_key;
  std::string session_token;
  // "path" (http://endpoint/bucket/key) or "virtual" (http://bucket.endpoint/key).
  // Empty: from ?addressing=, else "path" for custom endpoints and "virtual" for AWS.
  std::string addressing;
  int max_retries = 4;  // retries after the first attempt on 5xx/throttle/timeout
  Duration retry_base_delay = std::chrono::milliseconds(50);  // jittered exponential back-off
  Duration connect_timeout = std::chrono::seconds(5);
  Duration request_timeout = std::chrono::seconds(60);  // per attempt, whole transfer
  uint64_t multipart_threshold = 8 * kMiB;  // writes larger than this use multipart upload
  uint64_t part_size = 8 * kMiB;             // multipart part size (>= 5 MiB); bounds writer memory
  int max_connections = 64;                  // pooled connections kept per store

  Status Validate() const;
};

struct HttpOptions {
  Duration connect_timeout = std::chrono::seconds(5);
  Duration request_timeout = std::chrono::seconds(60);
  int max_retries = 3;
  Status Validate() const;
};

struct UnderStoreOptions {
  S3Options s3;
  HttpOptions http;
  Status Validate() const;
};

}  // namespace sluice::ufs
