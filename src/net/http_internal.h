// Internals of HttpServer shared by its pieces (server, connection, exchange): the
// server-wide state every connection sees, and the request parser. Not a public API.
//
// Thread-safety: ServerShared's counters are atomics and its registry is guarded by `mu`;
// a RequestParser belongs to one connection and is used by one thread at a time (the
// connection's I/O thread while reading the head, its handler thread while reading the
// body; the hand-offs between them are ordered by the thread pool's and Asio's queues).
#pragma once

#include <atomic>
#include <boost/beast/http/basic_parser.hpp>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/thread_pool.h"
#include "net/http.h"
#include "net/http_server.h"

namespace sluice::net::internal {

class Connection;

// State shared by the server and all of its connections. Outlives every connection.
struct ServerShared {
  ServerShared(ServerOptions o, Handler h, InlineHandler i)
      : options(std::move(o)), handler(std::move(h)), inline_handler(std::move(i)) {}

  const ServerOptions options;
  const Handler handler;
  const InlineHandler inline_handler;  // may be empty
  std::unique_ptr<ThreadPool> pool;    // set by Start, reset (joined) by Stop
  std::atomic<bool> stopping{false};

  std::atomic<uint64_t> connections_accepted{0}, connections_open{0}, connections_refused{0};
  std::atomic<uint64_t> requests{0}, bad_requests{0}, timeouts{0};
  std::atomic<uint64_t> bytes_in{0}, bytes_out{0};

  std::mutex mu;
  std::condition_variable idle_cv;                                   // active_handlers hit 0
  int active_handlers = 0;                                           // GUARDED_BY(mu)
  std::unordered_map<Connection*, std::weak_ptr<Connection>> conns;  // GUARDED_BY(mu)

  void HandlerStarted() {
    std::lock_guard lock(mu);
    ++active_handlers;
  }
  void HandlerDone() {
    std::lock_guard lock(mu);
    if (--active_handlers == 0) idle_cv.notify_all();
  }
};

// A request parser that writes the head straight into an HttpRequest (no intermediate
// field container) and the body into a caller-supplied buffer (the "sink").
class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  using string_view = boost::beast::string_view;
  using error_code = boost::beast::error_code;

  explicit RequestParser(HttpRequest* request) : request_(request) {}

  // Body bytes parsed by put() go to [out, out + capacity); produced() counts them.
  void SetSink(char* out, size_t capacity) {
    out_ = out;
    capacity_ = capacity;
    produced_ = 0;
  }
  size_t produced() const { return produced_; }
  int version() const { return version_; }

 private:
  static std::string_view Std(string_view s) { return {s.data(), s.size()}; }

  void on_request_impl(boost::beast::http::verb, string_view method, string_view target,
                       int version, error_code&) override {
    request_->method.assign(Std(method));
    request_->target.assign(Std(target));
    version_ = version;
  }
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(boost::beast::http::field, string_view name, string_view value,
                     error_code&) override {
    // Fields after the head are a chunked body's trailers: never request headers (they
    // were not authenticated, and the handler is reading the headers meanwhile).
    if (is_header_done()) return;
    request_->headers.emplace_back(Std(name), Std(value));
  }
  void on_header_impl(error_code& ec) override {
    // Framing the one way RFC 9112 section 6.1 allows, else 400 and close (request
    // smuggling): a Transfer-Encoding must end in chunked, must not come with a
    // Content-Length, and needs HTTP/1.1.
    bool te = false, cl = false;
    for (const auto& [name, value] : request_->headers) {
      te = te || boost::beast::iequals(name, "Transfer-Encoding");
      cl = cl || boost::beast::iequals(name, "Content-Length");
    }
    if (te && (!chunked() || cl || version_ < 11)) {
      ec = boost::beast::http::error::bad_transfer_encoding;
      return;
    }
    std::string_view target = request_->target;
    size_t q = target.find('?');
    request_->path.assign(target.substr(0, q));
    if (q == std::string_view::npos) {
      request_->query.clear();
    } else {
      request_->query.assign(target.substr(q + 1));
    }
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  size_t on_body_impl(string_view body, error_code&) override { return Take(body); }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    return Take(body);
  }
  void on_finish_impl(error_code&) override {}

  size_t Take(string_view body) {
    size_t n = std::min(body.size(), capacity_ - produced_);
    // The body may already be in place (the exchange receives straight into the sink).
    if (n > 0 && body.data() != out_ + produced_) std::memcpy(out_ + produced_, body.data(), n);
    produced_ += n;
    return n;
  }

  HttpRequest* request_;
  char* out_ = nullptr;
  size_t capacity_ = 0;
  size_t produced_ = 0;
  int version_ = 11;
};

// "Tue, 15 Nov 1994 08:12:31 GMT" for now; cached per thread for the current second.
std::string_view HttpDate();

// A complete response with a short text body and `Connection: close`, for errors the
// server answers itself (400, 408, 413, 431, 503, 500).
std::string ErrorResponse(int status);

}  // namespace sluice::net::internal
