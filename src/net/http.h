// The handler-facing side of Sluice's HTTP/1.1 server: what a request looks like to the
// code that serves it, and how that code streams a body in and a response out.
//
// Threading model (see docs/threading.md): the server's I/O threads (Asio) accept,
// parse request heads and move bytes; they never run handlers. Each request's handler
// runs on a handler thread from a bounded pool and may block (on the page store, the
// under store, a forwarded request). BodyReader::Read and ResponseWriter::Write block
// the handler thread until the I/O thread has moved the bytes, so a handler streams
// large bodies in bounded memory without ever blocking an I/O thread.
//
// Thread-safety: a request's HttpRequest, BodyReader and ResponseWriter belong to the
// one handler call serving it; do not share them across threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/status.h"

namespace sluice::net {

struct HttpRequest {
  std::string method;   // "GET", "PUT", ...
  std::string target;   // as received: "/bucket/key%20x?list-type=2"
  std::string path;     // target before '?', still percent-encoded
  std::string query;    // target after '?', still encoded ("" if none)
  std::vector<std::pair<std::string, std::string>> headers;  // in order received
  std::string remote;   // "127.0.0.1:53122"
  std::optional<uint64_t> content_length;  // from Content-Length; nullopt if chunked/absent

  // Case-insensitive header lookup; "" if absent.
  std::string_view Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
};

// Streams the request body. Read blocks until at least one byte is available, the body
// ends (returns 0) or it fails (kDeadlineExceeded on a stalled client, kInvalidArgument
// on a body longer than the server's max_body_bytes, kUnavailable on a closed socket).
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  virtual Result<size_t> Read(std::span<char> out) = 0;
  // Reads the whole remaining body; fails if it exceeds `limit` bytes.
  Result<std::string> ReadAll(uint64_t limit);
};

// Streams the response. Set the status and headers, then Write the body in any number
// of pieces and Finish. With a Content-Length header the body is sent as is (writing
// more or fewer bytes is an error); without one it is sent chunked. A HEAD response
// may set Content-Length and Finish without writing. Write blocks until the bytes are
// handed to the socket (backpressure); kUnavailable once the client is gone — stop then.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual void SetStatus(int status) = 0;
  virtual void SetHeader(std::string_view name, std::string_view value) = 0;
  // Drops a header set earlier (any case), before the head is sent; no-op otherwise.
  virtual void RemoveHeader(std::string_view name) = 0;
  virtual Status Write(std::string_view data) = 0;
  // Write of bytes that `owner` keeps alive (a cached page, say): the writer may keep a
  // reference to `owner` past the call instead of copying what the socket did not take
  // at once (an InlineHandler's response). Same contract as Write. Default: Write(data).
  virtual Status WriteShared(std::shared_ptr<const void> owner, std::string_view data) {
    (void)owner;
    return Write(data);
  }
  virtual Status Finish() = 0;
  virtual bool HeadersSent() const = 0;

  // Convenience: status, Content-Type, Content-Length and the whole body at once.
  Status Send(int status, std::string_view content_type, std::string_view body);
};

// Serves one request. Runs on a handler thread; may block. If it returns without calling
// Finish, the server finishes the response (or, if headers were already sent and the body
// is incomplete, closes the connection so the client sees a truncated transfer).
using Handler = std::function<void(const HttpRequest&, BodyReader&, ResponseWriter&)>;

// Optional fast path for requests without a body, run on an I/O thread before the Handler
// is considered: it saves the two thread hand-offs per request that dominate the cost of
// small hot GETs. It must not block (no disk, no under store, no lock held across I/O):
// either it answers from memory through the writer (typically one Send) and returns true,
// or it returns false without touching the writer and the request goes to the Handler on a
// handler thread. Bytes the socket cannot take at once are buffered by the server, so keep
// inline responses small (a few MiB at most; Write fails with kResourceExhausted past 16 MiB
// of copied bytes), or hand them over with WriteShared, which holds a reference instead.
using InlineHandler = std::function<bool(const HttpRequest&, ResponseWriter&)>;

// Percent-decodes `s` (for paths: '+' stays '+'; for queries `plus_is_space`).
// nullopt on a malformed escape.
std::optional<std::string> UrlDecode(std::string_view s, bool plus_is_space = false);
// Percent-encodes everything but unreserved characters (and '/' unless `encode_slash`).
std::string UrlEncode(std::string_view s, bool encode_slash = true);
// Splits "a=1&b=x%20y&c" into decoded (name, value) pairs, in order.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

}  // namespace sluice::net
