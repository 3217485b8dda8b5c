#include "net/sigv4.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/digest.h"
#include "net/s3_xml.h"

namespace sluice::net {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr int64_t kMaxPresignedExpiry = 7 * 24 * 3600;  // 604800 s, as S3

using Params = std::vector<std::pair<std::string, std::string>>;  // raw (still encoded)

S3Error Malformed(std::string message) {
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

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == '~';
}

// SigV4's UriEncode: every byte but unreserved ones as %XX (upper-case hex); '/' kept
// when `keep_slash` (object key paths).
std::string AwsEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (unsigned char c : s) {
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding ('+' stays '+'); nullopt on a malformed escape.
std::optional<std::string> Decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() + 0 && i + 2 > s.size() - 1 + 1) return std::nullopt;
    const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Params SplitQuery(std::string_view query) {
  Params out;
  size_t pos = 0;
  while (pos <= query.size() && !query.empty()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view item = query.substr(pos, amp - pos);
    if (!item.empty()) {
      const size_t eq = item.find('=');
      if (eq == std::string_view::npos) {
        out.emplace_back(std::string(item), "");
      } else {
        out.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
      }
    }
    pos = amp + 1;
  }
  return out;
}

// The decoded value of query parameter `name`, if present.
std::optional<std::string> QueryValue(const Params& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return Decode(v).value_or(v);
  }
  return std::nullopt;
}

// Canonical query strings: the normalised one (each name and value decoded and
// re-encoded with UriEncode, as S3 computes it) and, if different, the one built from
// the bytes as received (what a signer that does not re-encode has signed).
std::vector<std::string> CanonicalQueries(const Params& params, bool presigned) {
  std::vector<std::pair<std::string, std::string>> norm, raw;
  for (const auto& [k, v] : params) {
    if (presigned && k == "X-Amz-Signature") continue;
    const std::optional<std::string> dk = Decode(k), dv = Decode(v);
    norm.emplace_back(dk ? AwsEncode(*dk, false) : k, dv ? AwsEncode(*dv, false) : v);
    raw.emplace_back(k, v);
  }
  auto join = [](std::vector<std::pair<std::string, std::string>> kv) {
    std::sort(kv.begin(), kv.end());
    std::string s;
    for (const auto& [k, v] : kv) {
      if (!s.empty()) s += '&';
      s += k;
      s += '=';
      s += v;
    }
    return s;
  };
  std::vector<std::string> out{join(std::move(norm))};
  std::string r = join(std::move(raw));
  if (r != out[0]) out.push_back(std::move(r));
  return out;
}

std::vector<std::string> CanonicalUris(std::string_view path) {
  if (path.empty()) path = "/";
  std::vector<std::string> out;
  const std::optional<std::string> decoded = Decode(path);
  out.push_back(decoded ? AwsEncode(*decoded, true) : std::string(path));
  if (out[0] != path) out.emplace_back(path);
  return out;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Trimall: leading/trailing whitespace removed, runs of spaces collapsed to one.
void AppendTrimAll(std::string& out, std::string_view v) {
  bool pending_space = false, any = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      pending_space = any;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    any = true;
    out += c;
  }
}

// "name:value\n" for each signed header, values of repeated headers joined by ','.
std::string CanonicalHeaders(const HttpRequest& req, const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    out += name;
    out += ':';
    bool first = true;
    for (const auto& [k, v] : req.headers) {
      if (k.size() != name.size() || ToLower(k) != name) continue;
      if (!first) out += ',';
      first = false;
      AppendTrimAll(out, v);
    }
    out += '\n';
  }
  return out;
}

std::vector<std::string> SplitOn(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t next = s.find(sep, pos);
    out.emplace_back(s.substr(pos, next == std::string_view::npos ? s.npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

// "20240501T120000Z" -> unix seconds; nullopt if malformed.
std::optional<int64_t> ParseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  for (size_t i = 0; i < 15; ++i) {
    if (i != 8 && (s[i] < '0' || s[i] > '9')) return std::nullopt;
  }
  auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  return static_cast<int64_t>(timegm(&tm));
}

// Unix seconds -> "20240501T120000Z".
std::string AmzDate(int64_t unix_s) {
  const std::string iso = Iso8601(unix_s * 1'000'000'000);  // 2024-05-01T12:00:00.000Z
  return iso.substr(0, 4) + iso.substr(5, 2) + iso.substr(8, 2) + "T" + iso.substr(11, 2) +
         iso.substr(14, 2) + iso.substr(17, 2) + "Z";
}

bool IsLowerHex(std::string_view s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// What both forms yield once parsed: the inputs to the signature computation.
struct SignedParts {
  std::string access_key, scope_date, region, service;
  std::string amz_date;  // "20240501T120000Z"
  int64_t time_s = 0;
  std::vector<std::string> signed_headers;
  std::string signed_headers_text;
  std::string signature;
  std::string payload_hash;  // as it enters the canonical request
};

// Parses "AK/20240501/us-east-1/s3/aws4_request".
std::optional<S3Error> ParseCredential(std::string_view credential, SignedParts& p,
                                       S3Error (*malformed)(std::string)) {
  std::vector<std::string> c = SplitOn(credential, '/');
  if (c.size() != 5 || c[0].empty() || c[1].size() != 8 || c[2].empty() ||
      c[4] != "aws4_request") {
    return malformed("The Credential is mal-formed; expecting "
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
                                          S3Error (*malformed)(std::string)) {
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
  for (std::string item : SplitOn(auth, ',')) {
    std::string_view kv = item;
    while (!kv.empty() && (kv.front() == ' ' || kv.front() == '\t')) kv.remove_prefix(1);
    while (!kv.empty() && (kv.back() == ' ' || kv.back() == '\t')) kv.remove_suffix(1);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos) return Malformed("The authorization header is malformed.");
    const std::string_view k = kv.substr(0, eq), v = kv.substr(eq + 1);
    if (k == "Credential") credential = std::string(v);
    if (k == "SignedHeaders") signed_headers = std::string(v);
    if (k == "Signature") signature = std::string(v);
  }
  if (!credential || !signed_headers || !signature) {
    return Malformed("The authorization header requires Credential, SignedHeaders and "
                     "Signature.");
  }
  if (auto e = ParseCredential(*credential, p, Malformed)) return e;
  if (auto e = ParseSignedHeaders(*signed_headers, p, Malformed)) return e;
  p.signature = ToLower(*signature);
  return std::nullopt;
}

std::string SignatureFor(const SignedParts& p, std::string_view secret,
                         std::string_view canonical_request) {
  const std::string scope = p.scope_date + "/" + p.region + "/" + p.service + "/aws4_request";
  std::string sts(kAlgorithm);
  sts += '\n' + p.amz_date + '\n' + scope + '\n' + Sha256Hex(canonical_request);
  std::string key = HmacSha256(std::string("AWS4") + std::string(secret), p.scope_date);
  key = HmacSha256(key, p.region);
  key = HmacSha256(key, p.service);
  key = HmacSha256(key, "aws4_request");
  return ToHex(HmacSha256(key, sts));
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

#include "net/sigv4_verify.inc"

}  // namespace sluice::net
