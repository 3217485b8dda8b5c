// CurlClient: the HTTP transport shared by the S3 and HTTP under stores. One blocking
// Perform(request) -> Response over a pool of reused libcurl easy handles (each keeps its
// keep-alive connections; DNS and TLS sessions are shared across the pool), with retries:
// jittered exponential back-off on 5xx, 429, connection errors and timeouts.
//
// Perform returns a Response for any HTTP status (after retries, the last one); transport
// failures that outlive the retries become kUnavailable (connection) or kDeadlineExceeded
// (timeout). HttpError() maps a final non-2xx status to a Status code.
//
// Thread-safety: all methods are thread-safe; one client serves all threads.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/units.h"
#include "sluice/status.h"
#include "ufs/under_store.h"

namespace sluice::ufs {

struct HttpRequest {
  std::string method = "GET";        // GET, HEAD, PUT, POST, DELETE
  std::string url;                   // fully encoded
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;             // PUT/POST payload; must outlive Perform
  // SigV4 signing by libcurl ("aws:amz:REGION:s3") with "access:secret"; empty: unsigned.
  std::string aws_sigv4;
  std::string userpwd;
  // The most body bytes expected (a ranged GET's length; 0: unknown). The body's buffer is
  // reserved once, for the response's Content-Length when it has one (at most this), so a
  // small object read with a long range does not allocate the whole range.
  uint64_t expected_body_size = 0;
  // When non-empty, a 2xx response's body is written straight here (no copy through
  // HttpResponse::body; bytes past its end are dropped and make the transfer fail with
  // kInternal); HttpResponse::sink_bytes counts what was written. Other bodies (errors) go to
  // HttpResponse::body as usual.
  std::span<char> sink;
};

struct HttpResponse {
  long status = 0;                             // NOLINT(runtime/int): curl's type
  std::map<std::string, std::string> headers;  // names lowercased; last value wins
  std::string body;
  size_t sink_bytes = 0;  // bytes written to HttpRequest::sink
  // The header's value, or "" if absent. `name` must be lowercase.
  std::string Header(const std::string& name) const;
};

struct CurlClientOptions {
  int max_retries = 3;
  Duration retry_base_delay = std::chrono::milliseconds(50);
  Duration retry_max_delay = std::chrono::seconds(5);
  Duration connect_timeout = std::chrono::seconds(5);
  Duration request_timeout = std::chrono::seconds(60);  // per attempt
  int max_pooled_handles = 64;
  std::string ca_bundle;  // CURLOPT_CAINFO when non-empty
  // Answers retried besides 5xx (but 501) and 429, when set: what a protocol says is
  // transient (S3's 400 RequestTimeout).
  std::function<bool(const HttpResponse&)> also_retry;
  // When set, called on a copy of the request before each attempt (a retry included): what
  // must be fresh per attempt, such as credentials that expire. An error ends the call
  // with it (retried as any error of an attempt is).
  std::function<Status(HttpRequest*)> prepare;
};

class CurlClient {
 public:
  explicit CurlClient(CurlClientOptions options);
  ~CurlClient();
  CurlClient(const CurlClient&) = delete;
  CurlClient& operator=(const CurlClient&) = delete;

  // Sends the request, retrying transient failures. See the header comment.
  Result<HttpResponse> Perform(const HttpRequest& request);

  // Total retries (attempts after the first) made by this client.
  uint64_t Retries() const { return retries_.load(std::memory_order_relaxed); }
  // Handles currently idle in the pool (for tests).
  size_t PooledHandles() const;

  // Whether a response status is worth retrying (5xx, 429).
  static bool IsRetryableStatus(long status);  // NOLINT(runtime/int)

 private:
  CURL* Acquire();  // from the pool, or a new handle
  void Release(CURL* handle);
  Result<HttpResponse> PerformOnce(const HttpRequest& request);
  Duration BackoffDelay(int attempt);

  const CurlClientOptions options_;
  CURLSH* share_ = nullptr;  // DNS and TLS sessions shared by the pooled handles
  std::mutex share_mu_[CURL_LOCK_DATA_LAST];
  mutable std::mutex pool_mu_;
  std::vector<CURL*> pool_;  // GUARDED_BY(pool_mu_)
  std::atomic<uint64_t> retries_{0};
};

// The Status for a final non-2xx response: 404 kNotFound, 401/403 kPermissionDenied,
// 412 kFailedPrecondition, 416 kOutOfRange, 400 kInvalidArgument, 5xx/429 kUnavailable,
// 408 kDeadlineExceeded, others kInternal. `context` prefixes the message ("GET key").
Status HttpError(long status, std::string_view context,  // NOLINT(runtime/int)
                 std::string_view detail = {});

// Percent-encodes per RFC 3986 (AWS SigV4 rules): unreserved characters stay, everything
// else becomes %XX; '/' stays when `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash);
// Decodes %XX escapes ('+' is left as is).
std::string UriDecode(std::string_view s);

// Strips one pair of surrounding double quotes (an ETag as sent on the wire).
std::string Unquote(std::string_view s);

// Parses an HTTP date (RFC 7231, e.g. Last-Modified) or ISO 8601 ("2024-01-02T03:04:05.678Z")
// to nanoseconds since the epoch; 0 if unparseable.
int64_t ParseHttpDateNs(std::string_view s);
int64_t ParseIso8601Ns(std::string_view s);

// Makes `req` a ranged read of [offset, offset + length): sets the Range header (clamped
// so offset + length cannot overflow) and reserves for a body of that size (capped).
// REQUIRES: length > 0.
void SetRange(HttpRequest* req, uint64_t offset, uint64_t length);
// The bytes [offset, offset + length) of a ranged GET's body: a 200 means the server
// ignored the range and sent the whole object; a 206 body longer than asked is cut.
std::string TrimToRange(std::string body, long status, uint64_t offset,  // NOLINT(runtime/int)
                        uint64_t length);

// Fills size (Content-Length, or the total of a Content-Range), etag (unquoted), mtime_ns
// (Last-Modified) and headers (the stored ones: IsStoredHeader) of `info` from a HEAD or
// GET response. Returns whether the object's size was in them: not for a part whose
// Content-Range names no total ("bytes 0-9/*") or a response without a length (then
// info->size is 0, not the part's length).
bool FillInfoFromHeaders(const HttpResponse& response, ObjectInfo* info);

}  // namespace sluice::ufs
