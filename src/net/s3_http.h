// HTTP semantics the S3 API needs: byte ranges and conditional requests, as S3 does them.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "net/http.h"
#include "sluice/status.h"

namespace sluice::net {

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
  uint64_t length() const { return last - first + 1; }
};

// Parses a Range header for an object of `size` bytes: "bytes=a-b", "bytes=a-" (open),
// "bytes=-n" (suffix). Returns nullopt when the whole object should be served (no header,
// a syntactically invalid header, or several ranges — S3 ignores those), a ByteRange
// clamped to the object, or kOutOfRange when the range is unsatisfiable (416).
Result<std::optional<ByteRange>> ParseRange(std::string_view header, uint64_t size);

enum class Precondition { kProceed, kNotModified /*304*/, kFailed /*412*/ };

// Evaluates If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since against an
// object's ETag (unquoted) and mtime, in S3's order of precedence: If-Match (412), then
// If-Unmodified-Since (412, ignored when If-Match is present and true), then
// If-None-Match (304 for GET/HEAD), then If-Modified-Since (304). ETag lists and "*" are
// supported; weak validators compare as equal.
Precondition EvaluatePreconditions(const HttpRequest& request, std::string_view etag,
                                   int64_t mtime_ns);

enum class WritePrecondition { kProceed, kFailed /*412*/, kNoSuchKey /*404*/ };

// S3's conditional writes (PutObject, CompleteMultipartUpload) against the object now at
// the key: `etag` is its ETag (unquoted), nullopt when there is none. If-None-Match ("*",
// or a list of tags) fails when the key exists (with a listed tag); If-Match fails when
// the key does not exist (404) or its ETag is not listed (412). Tags compare strongly: a
// weak W/"x" never matches, as RFC 7232 requires for If-Match.
WritePrecondition EvaluateWritePreconditions(const HttpRequest& request,
                                             std::optional<std::string_view> etag);

}  // namespace sluice::net
