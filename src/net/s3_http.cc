#include "net/s3_http.h"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "net/s3_xml.h"

namespace sluice::net {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Digits only; saturates at UINT64_MAX (a huge first-byte-pos is still a number, and
// unsatisfiable). False on an empty or non-digit string.
bool ParseDigits(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  out = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    out = out > (kMax - d) / 10 ? kMax : out * 10 + d;
  }
  return true;
}

Status Unsatisfiable(uint64_t size) {
  return Status::OutOfRange("The requested range is not satisfiable (object size " +
                            std::to_string(size) + ")");
}

// Strips W/ and the quotes from an entity tag as it appears in a header list.
std::string_view OpaqueTag(std::string_view t) {
  t = TrimOws(t);
  if (t.size() >= 2 && (t[0] == 'W' || t[0] == 'w') && t[1] == '/') t.remove_prefix(2);
  if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
  return t;
}

// True when the If-Match/If-None-Match list `header` names `etag` (or is "*"). Weak
// comparison by default: W/"x" matches x; with `strong`, W/ tags never match. Clients
// sometimes omit the quotes; those match too.
bool EtagListMatches(std::string_view header, std::string_view etag, bool strong = false) {
  etag = OpaqueTag(etag);
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    const std::string_view item = TrimOws(header.substr(pos, comma - pos));
    if (item == "*") return true;
    const bool weak = item.size() >= 2 && (item[0] == 'W' || item[0] == 'w') && item[1] == '/';
    if (!item.empty() && !(strong && weak) && OpaqueTag(item) == etag) return true;
    pos = comma + 1;
  }
  return false;
}

}  // namespace

WritePrecondition EvaluateWritePreconditions(const HttpRequest& request,
                                             std::optional<std::string_view> etag) {
  if (request.HasHeader("If-Match")) {
    if (!etag) return WritePrecondition::kNoSuchKey;
    if (!EtagListMatches(request.Header("If-Match"), *etag, /*strong=*/true)) {
      return WritePrecondition::kFailed;
    }
  }
  if (request.HasHeader("If-None-Match") && etag &&
      EtagListMatches(request.Header("If-None-Match"), *etag, /*strong=*/true)) {
    return WritePrecondition::kFailed;
  }
  return WritePrecondition::kProceed;
}

Result<std::optional<ByteRange>> ParseRange(std::string_view header, uint64_t size) {
  std::string_view h = TrimOws(header);
  if (h.empty()) return std::optional<ByteRange>();
  constexpr std::string_view kUnit = "bytes=";
  if (h.size() < kUnit.size()) return std::optional<ByteRange>();
  for (size_t i = 0; i < kUnit.size(); ++i) {
    const char c = h[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != kUnit[i]) {
      return std::optional<ByteRange>();  // another unit: ignored, whole object
    }
  }
  h = TrimOws(h.substr(kUnit.size()));
  // S3 serves the whole object for multi-range requests rather than multipart/byteranges.
  if (h.find(',') != std::string_view::npos) return std::optional<ByteRange>();
  const size_t dash = h.find('-');
  if (dash == std::string_view::npos) return std::optional<ByteRange>();
  const std::string_view first_text = TrimOws(h.substr(0, dash));
  const std::string_view last_text = TrimOws(h.substr(dash + 1));

  if (first_text.empty()) {  // suffix: the last n bytes
    uint64_t n = 0;
    if (!ParseDigits(last_text, n)) return std::optional<ByteRange>();
    if (n == 0) return Unsatisfiable(size);
    // An empty object has no last bytes; S3 answers 200 with the (empty) object.
    if (size == 0) return std::optional<ByteRange>();
    return std::optional<ByteRange>(ByteRange{n >= size ? 0 : size - n, size - 1});
  }
  uint64_t first = 0;
  if (!ParseDigits(first_text, first)) return std::optional<ByteRange>();
  uint64_t last = std::numeric_limits<uint64_t>::max();
  if (!last_text.empty()) {
    if (!ParseDigits(last_text, last)) return std::optional<ByteRange>();
    if (last < first) return std::optional<ByteRange>();  // invalid: ignored
  }
  if (first >= size) return Unsatisfiable(size);
  return std::optional<ByteRange>(ByteRange{first, last >= size ? size - 1 : last});
}

Precondition EvaluatePreconditions(const HttpRequest& request, std::string_view etag,
                                   int64_t mtime_ns) {
  const bool get_or_head = request.method == "GET" || request.method == "HEAD";
  // HTTP dates have one-second resolution: compare whole seconds.
  const int64_t mtime_s = mtime_ns / kNsPerSecond;

  // 1. If-Match: 412 when no listed tag matches.
  const bool has_if_match = request.HasHeader("If-Match");
  if (has_if_match && !EtagListMatches(request.Header("If-Match"), etag)) {
    return Precondition::kFailed;
  }
  // 2. If-Unmodified-Since, only without If-Match (a true If-Match overrides it).
  if (!has_if_match && request.HasHeader("If-Unmodified-Since")) {
    const int64_t date = ParseHttpDate(request.Header("If-Unmodified-Since"));
    if (date >= 0 && mtime_s > date / kNsPerSecond) return Precondition::kFailed;
  }
  // 3. If-None-Match: a matching tag means 304 for GET/HEAD, 412 otherwise.
  const bool has_if_none_match = request.HasHeader("If-None-Match");
  if (has_if_none_match && EtagListMatches(request.Header("If-None-Match"), etag)) {
    return get_or_head ? Precondition::kNotModified : Precondition::kFailed;
  }
  // 4. If-Modified-Since, only for GET/HEAD and only without If-None-Match.
  if (get_or_head && !has_if_none_match && request.HasHeader("If-Modified-Since")) {
    const int64_t date = ParseHttpDate(request.Header("If-Modified-Since"));
    if (date >= 0 && mtime_s <= date / kNsPerSecond) return Precondition::kNotModified;
  }
  return Precondition::kProceed;
}

}  // namespace sluice::net
