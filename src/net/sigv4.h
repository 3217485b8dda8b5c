// SigV4Verifier: checks AWS Signature Version 4 on incoming S3 requests, both forms:
// the Authorization header (AWS4-HMAC-SHA256 Credential=.../SignedHeaders=.../Signature=...)
// and presigned URLs (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
// X-Amz-SignedHeaders, X-Amz-Signature in the query).
//
// Payloads: "UNSIGNED-PAYLOAD", a hex SHA-256 in x-amz-content-sha256 (the caller must
// check the body against AuthResult::payload_sha256 as it streams — see
// PayloadHasher), and STREAMING-UNSIGNED-PAYLOAD-TRAILER is refused as unsupported.
// Clock skew: a header-signed request whose X-Amz-Date is more than `max_skew` from now
// fails with RequestTimeTooSkewed; a presigned URL past X-Amz-Date + X-Amz-Expires (max 7
// days) fails with AccessDenied ("Request has expired").
//
// Thread-safety: Verify is const and thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>

#include "common/units.h"
#include "net/http.h"
#include "net/s3_errors.h"

namespace sluice::net {

struct AuthResult {
  std::string access_key;
  // "" when nothing is to be checked (UNSIGNED-PAYLOAD, presigned); else the lowercase
  // hex SHA-256 the body must have.
  std::string payload_sha256;
};

class SigV4Verifier {
 public:
  // secrets: access key -> secret key. now_unix_seconds: the wall clock (tests inject).
  SigV4Verifier(std::map<std::string, std::string> secrets, Duration max_skew,
                std::function<int64_t()> now_unix_seconds = nullptr);

  // An AuthResult, or the S3Error to answer with: 403 AccessDenied (no credentials,
  // expired presigned URL), 403 InvalidAccessKeyId (unknown access key), 403
  // SignatureDoesNotMatch, 403 RequestTimeTooSkewed, 400 AuthorizationHeaderMalformed /
  // AuthorizationQueryParametersError / InvalidRequest (SigV2, missing
  // x-amz-content-sha256 on a request with a body) / InvalidArgument, 501 NotImplemented
  // (STREAMING-* payloads). A header-signed request without x-amz-content-sha256 and
  // without a body is checked against the empty body's hash (payload_sha256 says so).
  std::variant<AuthResult, S3Error> Verify(const HttpRequest& request) const;

 private:
  std::map<std::string, std::string> secrets_;
  Duration max_skew_;
  std::function<int64_t()> now_;
};

// Computes SHA-256 of a body as it streams, to compare with AuthResult::payload_sha256.
class PayloadHasher {
 public:
  PayloadHasher();
  ~PayloadHasher();
  PayloadHasher(const PayloadHasher&) = delete;
  PayloadHasher& operator=(const PayloadHasher&) = delete;
  void Update(std::string_view data);
  std::string HexDigest();  // lowercase hex; call once
 private:
  struct State;
  State* state_;
};

// Lowercase hex SHA-256 and HMAC-SHA256 (raw bytes), used by the verifier and its tests.
std::string Sha256Hex(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);

}  // namespace sluice::net
