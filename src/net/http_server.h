// HttpServer: Sluice's HTTP/1.1 server (Boost.Beast over Asio), with keep-alive, limits
// and graceful shutdown. Every worker endpoint (S3 API, /v1, /metrics) is a Handler on it.
//
// - `io_threads` Asio threads do all socket I/O; handlers run on `handler_threads`
//   threads (see net/http.h for the blocking-facade contract).
// - Limits, each refused with a proper HTTP error and the connection closed, never a
//   crash: request head larger than `max_header_bytes` (431), body larger than
//   `max_body_bytes` (413), more than `max_connections` open connections (503, then
//   close), a request head not received within `head_timeout`, a body that stops coming
//   for `idle_timeout`, or a whole request not within `request_timeout` (408), a connection
//   idle longer than `idle_timeout` (closed). Garbage that is not HTTP gets 400.
// - Stop(): stops accepting, lets in-flight requests finish (up to `grace`), then closes
//   every connection and joins all threads.
//
// Thread-safety: Start/Stop from one thread; the handler is called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/units.h"
#include "net/http.h"

namespace sluice::net {

struct ServerOptions {
  std::string listen = "127.0.0.1:7480";  // HOST:PORT; port 0 picks a free port
  int io_threads = 2;
  int handler_threads = 64;                // concurrent requests being served
  size_t max_header_bytes = 16 * 1024;
  uint64_t max_body_bytes = 5ULL * 1024 * 1024 * 1024;  // S3's single-PUT limit
  size_t max_connections = 4096;
  Duration request_timeout = std::chrono::minutes(5);  // to receive a request's head + body
  // Past request_timeout, a body still arriving at this many bytes per second goes on,
  // measured over the whole request then over each 10 s after (0: cut at request_timeout
  // whatever its rate).
  uint64_t min_body_rate = 256 * 1024;
  // To receive a request's head, once its first byte came (at most request_timeout): a
  // client trickling a head cannot hold a connection for long.
  Duration head_timeout = std::chrono::seconds(30);
  Duration idle_timeout = std::chrono::seconds(60);    // keep-alive connection with no request
  Duration send_timeout = std::chrono::seconds(60);    // a response write making no progress
  Status Validate() const;
};

struct ServerStats {
  uint64_t connections_accepted = 0, connections_open = 0, connections_refused = 0;
  uint64_t requests = 0, bad_requests = 0, timeouts = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
};

class HttpServer {
 public:
  // `inline_handler` (optional) is tried first for requests without a body; see net/http.h.
  HttpServer(ServerOptions options, Handler handler, InlineHandler inline_handler = nullptr);
  ~HttpServer();  // Stop()s if running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving; kUnavailable/kInvalidArgument with the reason if it can't.
  Status Start();
  // The bound port (after Start), useful with port 0.
  uint16_t port() const;
  void Stop(Duration grace = std::chrono::seconds(10));
  ServerStats GetStats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::net
