// AWS credentials that expire and are fetched again: the instance metadata service of an
// EC2 machine (IMDSv2, then v1), the container credentials endpoint of ECS/EKS Pod
// Identity, and STS AssumeRoleWithWebIdentity (EKS IRSA: a projected token file and a role).
// Static keys (options, environment, shared credentials file) stay in S3Config itself.
//
// Contract:
// - Get() returns the credentials to sign the next request with. They are fetched on the
//   first call (never at construction: resolving a config does no I/O) and fetched again
//   once they are within kRefreshBefore of their Expiration, so no request is signed with
//   credentials that expire in flight.
// - A failed refresh keeps serving the old credentials while they are still valid and tries
//   again at most every kRetryAfterFailure; with none valid, Get() fails (kUnavailable,
//   naming the source and why), so a request fails clearly rather than going out unsigned.
// - Empty credentials (access_key "") mean "sign nothing": only the auto-detected instance
//   metadata provider returns them, when no metadata service answers at all (not on EC2)
//   or it names no role, as requests were unsigned before this provider existed; that
//   answer is kept 15 minutes (asked again after 10), so a blip at start does not leave
//   a machine that has a role unsigned for good.
// - The web identity token file is read again at every refresh (the kubelet rotates it).
//
// Thread-safety: Get() is thread-safe. One caller fetches, without the lock; the others
// use the current credentials meanwhile while they are valid, else wait for that fetch.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "sluice/status.h"

namespace sluice::ufs {

struct AwsCredentials {
  std::string access_key, secret_key, session_token;
  int64_t expires_ns = 0;  // wall-clock ns since the epoch; 0: never
};

class CredentialProvider {
 public:
  static constexpr std::chrono::minutes kRefreshBefore{5};
  static constexpr std::chrono::seconds kRetryAfterFailure{5};

  virtual ~CredentialProvider() = default;
  virtual Result<AwsCredentials> Get() = 0;
  virtual const std::string& Name() const = 0;  // "instance metadata", ...
};

// Wall-clock nanoseconds since the epoch (Expiration is wall-clock time); a seam for tests.
using WallClock = std::function<int64_t()>;
int64_t SystemNowNs();

// A provider around `fetch` (one attempt at fresh credentials), with the caching and
// refresh rules above.
class RefreshingProvider : public CredentialProvider {
 public:
  using Fetch = std::function<Result<AwsCredentials>()>;
  RefreshingProvider(std::string name, Fetch fetch, WallClock now = SystemNowNs);
  Result<AwsCredentials> Get() override;
  const std::string& Name() const override { return name_; }

 private:
  const std::string name_;
  const Fetch fetch_;
  const WallClock now_;
  std::mutex mu_;
  std::condition_variable refreshed_cv_;  // a fetch ended
  bool refreshing_ = false;    // GUARDED_BY(mu_): a caller is fetching (without mu_)
  bool have_ = false;          // GUARDED_BY(mu_)
  AwsCredentials current_;     // GUARDED_BY(mu_)
  Status last_error_;          // GUARDED_BY(mu_)
  int64_t retry_at_ns_ = 0;    // GUARDED_BY(mu_): no fetch before this after a failure
};

// Where each source is found. Endpoints are "http://host[:port]" (tests point them at a
// local server).
struct ImdsSource {
  std::string endpoint = "http://169.254.169.254";  // AWS_EC2_METADATA_SERVICE_ENDPOINT
  // Auto-detected (nothing configured it): a metadata service that does not answer at all
  // means unsigned requests, not an error.
  bool optional = true;
};
struct ContainerSource {
  std::string url;         // AWS_CONTAINER_CREDENTIALS_FULL_URI, or 169.254.170.2 + RELATIVE_URI
  std::string auth_token;  // AWS_CONTAINER_AUTHORIZATION_TOKEN
  std::string auth_token_file;  // AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read per fetch)
};
struct WebIdentitySource {
  std::string sts_endpoint;  // AWS_ENDPOINT_URL_STS, else https://sts.REGION.amazonaws.com
  std::string role_arn;      // AWS_ROLE_ARN
  std::string token_file;    // AWS_WEB_IDENTITY_TOKEN_FILE
  std::string session_name;  // AWS_ROLE_SESSION_NAME, else "sluice-<pid>"
};

std::shared_ptr<CredentialProvider> ImdsCredentials(ImdsSource source,
                                                    WallClock now = SystemNowNs);
std::shared_ptr<CredentialProvider> ContainerCredentials(ContainerSource source,
                                                         WallClock now = SystemNowNs);
std::shared_ptr<CredentialProvider> WebIdentityCredentials(WebIdentitySource source,
                                                           WallClock now = SystemNowNs);

// The credentials in a JSON document of the metadata service or the container endpoint
// ({"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}), or in an STS
// AssumeRoleWithWebIdentity response (XML). Exposed for tests.
Result<AwsCredentials> ParseCredentialsJson(std::string_view body, std::string_view source);
Result<AwsCredentials> ParseAssumeRoleResponse(std::string_view body);

}  // namespace sluice::ufs
