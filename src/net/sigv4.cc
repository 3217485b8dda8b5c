#include "net/sigv4.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/digest.h"
#include "net/s3_xml.h"
#include "net/sigv4_canonical.h"

namespace sluice::net {
namespace {

using sigv4_internal::RawParams;

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr int64_t kMaxPresignedExpiry = 7 * 24 * 3600;  // 604800 s, as S3

S3Error HeaderMalformed(std::string message) {
  return S3Error::Of(400, "AuthorizationHeaderMalformed", std::move(message));
}
S3Error QueryMalformed(std::string message) {
  return S3Error::Of(400, "AuthorizationQueryParametersError", std::move(message));
}
S3Error Mismatch() {
  return S3Error::Of(403, "SignatureDoesNotMatch",
                     "The request signature we calculated does not match the signature you "
                     "provided. Check your key and signing method.");
}
using MalformedFn = S3Error (*)(std::string);

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string> SplitOn(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t next = s.find(sep, pos);
    out.emplace_back(s.substr(pos, next == std::string_view::npos ? s.npos : next - pos));
    if (next == std::string_view::npos) return out;
    pos = next + 1;
  }
}

bool IsHex(std::string_view s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The decoded value of query parameter `name`, if present.
std::optional<std::string> QueryValue(const RawParams& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return sigv4_internal::PercentDecode(v, /*plus_is_space=*/true).value_or(v);
  }
  return std::nullopt;
}

// What either form yields once parsed: the inputs of the signature computation.
struct SignedParts {
  std::string access_key, scope_date, region, service;
  std::string amz_date;  // "20240501T120000Z"
  int64_t time_s = 0;
  std::vector<std::string> signed_headers;
  std::string signed_headers_text;
  std::string signature;     // lowercase hex
  std::string payload_hash;  // as it enters the canonical request
};

// "AKID/20240501/us-east-1/s3/aws4_request"
std::optional<S3Error> ParseCredential(std::string_view credential, SignedParts& p,
                                       MalformedFn malformed) {
  std::vector<std::string> c = SplitOn(credential, '/');
  if (c.size() != 5 || c[0].empty() || c[1].size() != 8 || c[2].empty() || c[4] != "aws4_request") {
    return malformed(
        "The Credential is mal-formed; expecting "
        "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
  }
  if (c[3] != "s3") return malformed("The Credential's service must be 's3'.");
  p.access_key = std::move(c[0]);
  p.scope_date = std::move(c[1]);
  p.region = std::move(c[2]);
  p.service = std::move(c[3]);
  return std::nullopt;
}

std::optional<S3Error> ParseSignedHeaders(std::string_view text, SignedParts& p,
                                          MalformedFn malformed) {
  p.signed_headers_text = std::string(text);
  p.signed_headers = SplitOn(text, ';');
  for (const std::string& h : p.signed_headers) {
    if (h.empty() || h != ToLower(h)) return malformed("SignedHeaders is mal-formed.");
  }
  if (std::find(p.signed_headers.begin(), p.signed_headers.end(), "host") ==
      p.signed_headers.end()) {
    return malformed("The host header must be signed.");
  }
  return std::nullopt;
}

// "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
std::optional<S3Error> ParseAuthorization(std::string_view auth, SignedParts& p) {
  auth.remove_prefix(kAlgorithm.size());
  std::optional<std::string> credential, signed_headers, signature;
  for (const std::string& item : SplitOn(auth, ',')) {
    const std::string_view kv = Trim(item);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos) {
      return HeaderMalformed("The authorization header is malformed.");
    }
    const std::string_view k = kv.substr(0, eq), v = kv.substr(eq + 1);
    if (k == "Credential") credential = std::string(v);
    if (k == "SignedHeaders") signed_headers = std::string(v);
    if (k == "Signature") signature = std::string(v);
  }
  if (!credential || !signed_headers || !signature) {
    return HeaderMalformed(
        "The authorization header requires Credential, SignedHeaders and Signature.");
  }
  if (auto e = ParseCredential(*credential, p, HeaderMalformed)) return e;
  if (auto e = ParseSignedHeaders(*signed_headers, p, HeaderMalformed)) return e;
  p.signature = ToLower(*signature);
  return std::nullopt;
}

// The request time: X-Amz-Date, else the Date header.
std::optional<S3Error> ParseRequestTime(const HttpRequest& req, SignedParts& p) {
  std::optional<int64_t> t;
  if (req.HasHeader("X-Amz-Date")) {
    t = sigv4_internal::ParseAmzDate(Trim(req.Header("X-Amz-Date")));
  } else if (req.HasHeader("Date")) {
    const int64_t ns = ParseHttpDate(req.Header("Date"));
    if (ns >= 0) t = ns / 1'000'000'000;
  }
  if (!t) {
    return S3Error::Of(403, "AccessDenied",
                       "AWS authentication requires a valid Date or x-amz-date header");
  }
  p.time_s = *t;
  p.amz_date = sigv4_internal::FormatAmzDate(*t);
  return std::nullopt;
}

// The payload hash of a header-signed request; fills result.payload_sha256.
std::optional<S3Error> ParsePayloadHash(const HttpRequest& req, SignedParts& p,
                                        AuthResult& result) {
  const std::string_view sha = Trim(req.Header("x-amz-content-sha256"));
  if (sha.empty()) {
    // S3 requires the header; a request without a body is let through against the
    // empty body's hash (generic SigV4 signers omit it), which the body must then match.
    const bool may_have_body =
        (req.content_length && *req.content_length > 0) || req.HasHeader("Transfer-Encoding");
    if (may_have_body) {
      return S3Error::Of(400, "InvalidRequest",
                         "Missing required header for this request: x-amz-content-sha256");
    }
    p.payload_hash = std::string(kEmptySha256);
    result.payload_sha256 = std::string(kEmptySha256);
    return std::nullopt;
  }
  p.payload_hash = std::string(sha);
  if (sha == kUnsignedPayload) return std::nullopt;
  if (sha.starts_with("STREAMING-")) {
    return S3Error::Of(501, "NotImplemented",
                       "x-amz-content-sha256 " + std::string(sha) +
                           " is not supported; "
                           "send UNSIGNED-PAYLOAD or the body's SHA-256");
  }
  if (!IsHex(sha, 64)) {
    return S3Error::Of(400, "InvalidArgument",
                       "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256 value");
  }
  result.payload_sha256 = ToLower(sha);
  return std::nullopt;
}

std::optional<S3Error> ParsePresigned(const RawParams& params, SignedParts& p, int64_t& expires) {
  const std::optional<std::string> algorithm = QueryValue(params, "X-Amz-Algorithm"),
                                   credential = QueryValue(params, "X-Amz-Credential"),
                                   date = QueryValue(params, "X-Amz-Date"),
                                   expires_text = QueryValue(params, "X-Amz-Expires"),
                                   signed_headers = QueryValue(params, "X-Amz-SignedHeaders"),
                                   signature = QueryValue(params, "X-Amz-Signature");
  if (!algorithm || *algorithm != kAlgorithm) {
    return QueryMalformed("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
  }
  if (!credential || !date || !expires_text || !signed_headers || !signature) {
    return QueryMalformed(
        "Query-string authentication version 4 requires the X-Amz-Algorithm, "
        "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
        "X-Amz-Expires parameters.");
  }
  if (auto e = ParseCredential(*credential, p, QueryMalformed)) return e;
  if (auto e = ParseSignedHeaders(*signed_headers, p, QueryMalformed)) return e;
  const std::optional<int64_t> t = sigv4_internal::ParseAmzDate(*date);
  if (!t)
    return QueryMalformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  p.time_s = *t;
  p.amz_date = *date;
  expires = -1;
  if (!expires_text->empty() && expires_text->size() <= 7 &&
      std::all_of(expires_text->begin(), expires_text->end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    expires = std::stoll(*expires_text);
  }
  if (expires < 0) return QueryMalformed("X-Amz-Expires should be a number");
  if (expires > kMaxPresignedExpiry) {
    return QueryMalformed("X-Amz-Expires must be less than a week (in seconds) that is 604800");
  }
  p.signature = ToLower(*signature);
  p.payload_hash = std::string(kUnsignedPayload);
  return std::nullopt;
}

}  // namespace

SigV4Verifier::SigV4Verifier(std::map<std::string, std::string> secrets, Duration max_skew,
                             std::function<int64_t()> now_unix_seconds)
    : secrets_(std::move(secrets)), max_skew_(max_skew), now_(std::move(now_unix_seconds)) {
  if (!now_) {
    now_ = [] {
      return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
    };
  }
}

std::variant<AuthResult, S3Error> SigV4Verifier::Verify(const HttpRequest& req) const {
  const std::string_view auth = Trim(req.Header("Authorization"));
  const RawParams params = sigv4_internal::SplitRawQuery(req.query);
  const bool query_auth = std::any_of(params.begin(), params.end(), [](const auto& kv) {
    return kv.first == "X-Amz-Algorithm" || kv.first == "X-Amz-Credential" ||
           kv.first == "X-Amz-Signature";
  });
  if (!auth.empty() && query_auth) {
    return S3Error::Of(400, "InvalidArgument", "Only one auth mechanism allowed");
  }
  if (auth.empty() && !query_auth) return S3Error::Of(403, "AccessDenied", "Access Denied");

  SignedParts p;
  AuthResult result;
  const int64_t now = now_();
  const int64_t skew = std::chrono::duration_cast<std::chrono::seconds>(max_skew_).count();
  int64_t expires = 0;
  if (query_auth) {
    if (auto e = ParsePresigned(params, p, expires)) return *e;
  } else {
    if (!auth.starts_with(kAlgorithm) ||
        (auth.size() > kAlgorithm.size() && auth[kAlgorithm.size()] != ' ')) {
      return S3Error::Of(400, "InvalidRequest",
                         "The authorization mechanism you have provided is not supported. "
                         "Please use AWS4-HMAC-SHA256.");
    }
    if (auto e = ParseAuthorization(auth, p)) return *e;
    if (auto e = ParseRequestTime(req, p)) return *e;
    if (auto e = ParsePayloadHash(req, p, result)) return *e;
  }
  if (!p.amz_date.starts_with(p.scope_date)) {
    const std::string m = "Invalid credential date. Date is not the same as X-Amz-Date.";
    return query_auth ? QueryMalformed(m) : HeaderMalformed(m);
  }
  const auto secret = secrets_.find(p.access_key);
  if (secret == secrets_.end()) {
    return S3Error::Of(403, "InvalidAccessKeyId",
                       "The AWS Access Key Id you provided does not exist in our records.");
  }
  if (query_auth) {
    if (now > p.time_s + expires) return S3Error::Of(403, "AccessDenied", "Request has expired");
    if (p.time_s > now + skew) return S3Error::Of(403, "AccessDenied", "Request is not valid yet");
  } else if (p.time_s > now + skew || p.time_s < now - skew) {
    return S3Error::Of(403, "RequestTimeTooSkewed",
                       "The difference between the request time and the current time is too "
                       "large.");
  }
  if (!IsHex(p.signature, 64)) return Mismatch();

  std::string key = HmacSha256("AWS4" + secret->second, p.scope_date);
  key = HmacSha256(key, p.region);
  key = HmacSha256(key, p.service);
  key = HmacSha256(key, "aws4_request");
  const std::string scope = p.scope_date + "/" + p.region + "/" + p.service + "/aws4_request";
  const std::string headers = sigv4_internal::CanonicalHeaders(req, p.signed_headers);
  bool match = false;
  for (const std::string& uri : sigv4_internal::CanonicalUris(req.path)) {
    for (const std::string& query : sigv4_internal::CanonicalQueries(params, query_auth)) {
      const std::string canonical = req.method + '\n' + uri + '\n' + query + '\n' + headers + '\n' +
                                    p.signed_headers_text + '\n' + p.payload_hash;
      const std::string sts =
          std::string(kAlgorithm) + '\n' + p.amz_date + '\n' + scope + '\n' + Sha256Hex(canonical);
      const std::string expected = ToHex(HmacSha256(key, sts));
      // Constant time, and every candidate is computed whatever the outcome.
      match |= CRYPTO_memcmp(expected.data(), p.signature.data(), expected.size()) == 0;
    }
  }
  if (!match) return Mismatch();
  result.access_key = p.access_key;
  return result;
}

}  // namespace sluice::net
