// Resolution of an s3:// URI plus S3Options plus the environment into one S3Config:
// bucket, key prefix, endpoint, region, addressing style and credentials.
//
// Precedence, per field (first non-empty wins):
//   endpoint:    options.endpoint, ?endpoint=, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
//                https://s3.<region>.amazonaws.com
//   region:      options.region, ?region=, AWS_REGION, AWS_DEFAULT_REGION, "us-east-1"
//   credentials: options.access_key/secret_key/session_token (as a set), then
//                AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, then web
//                identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN: STS, EKS IRSA),
//                then the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
//                $HOME/.aws/credentials), profile AWS_PROFILE or "default", then the
//                container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI or
//                _RELATIVE_URI), then the instance metadata service: for AWS's own
//                endpoint, or any when AWS_EC2_METADATA_SERVICE_ENDPOINT is set, unless
//                AWS_EC2_METADATA_DISABLED=true; none anywhere: unsigned requests.
//                The last three are fetched when first used, not here
//                (ufs/aws_credentials.h).
//   addressing:  options.addressing, ?addressing=, "path" for a custom endpoint,
//                "virtual" for AWS.
// The environment is read through an EnvGetter so tests need not touch the process env.
//
// Thread-safety: pure functions (the default EnvGetter reads the process environment).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/status.h"
#include "ufs/aws_credentials.h"
#include "ufs/options.h"

namespace sluice::ufs {

struct S3Config {
  std::string bucket;
  std::string prefix;    // key prefix inside the bucket, "" or ending with '/'
  std::string endpoint;  // scheme://host[:port], no trailing '/'
  std::string region;
  std::string addressing;                             // "path" or "virtual"
  std::string access_key, secret_key, session_token;  // static; empty: see `credentials`
  // Credentials that expire and are fetched again (instance metadata, container, web
  // identity); null: the static keys above, or unsigned requests when those are empty.
  std::shared_ptr<CredentialProvider> credentials;
  std::string ca_bundle;                              // AWS_CA_BUNDLE, if set
  std::string uri;  // normalised: s3://bucket[/prefix] (no trailing '/', no query)

  // Base URL of an object key (already relative to the bucket, prefix included):
  // encodes each path segment.
  std::string ObjectUrl(std::string_view full_key) const;
  // The bucket's URL (for ListObjectsV2 and friends), ending in '/'.
  std::string BucketUrl() const;
};

// Returns the value of an environment variable, or nullopt if unset.
using EnvGetter = std::function<std::optional<std::string>(const char* name)>;
std::optional<std::string> ProcessEnv(const char* name);

Result<S3Config> ResolveS3Config(std::string_view uri, const S3Options& options,
                                 const EnvGetter& env = ProcessEnv);

// As above, for a whole store when `bucket_rule` is kNone: the URI must be "s3://" or
// "s3://?query" (no bucket, no prefix); the result has an empty bucket and uri "s3://".
enum class BucketRule { kRequired, kNone };
Result<S3Config> ResolveS3Config(std::string_view uri, const S3Options& options,
                                 const EnvGetter& env, BucketRule bucket_rule);

// Reads `profile` from an AWS shared credentials file (INI). NotFound if the file or
// profile is missing.
Result<AwsCredentials> ReadSharedCredentials(const std::string& path, const std::string& profile);

}  // namespace sluice::ufs
