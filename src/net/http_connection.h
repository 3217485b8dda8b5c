// Connection: one accepted TCP connection of HttpServer. Not a public API.
//
// Life cycle, one request at a time:
//   head   (I/O thread)  async reads + parse of the request head, under a deadline:
//                        idle_timeout until the first byte, then head_timeout (at
//                        most request_timeout, which bounds head and body together);
//   handle (handler thread, see http_exchange.h) the handler runs and streams the body
//                        and the response over the socket directly (or the inline
//                        handler answers on the I/O thread);
//   back to head (keep-alive) or to `linger`: the socket's send side is shut down and
//                        input is discarded for a moment, so that the client reads the
//                        last response instead of a reset; then closed.
// Errors the server answers itself (400, 408, 413, 431, 503) are written by the I/O
// thread, followed by a linger close.
//
// The two thread hand-offs per request cost more than the rest of a small request (about
// 3x the CPU on this VM), so an InlineHandler may answer a bodiless request right on the
// I/O thread, skipping both (`flush` then sends what the socket did not take at once).
//
// Ownership: shared_ptr, held by pending Asio operations and by the queued/running
// handler; the server's registry holds weak_ptrs (for Stop).
// Thread-safety: everything but ForceShutdown runs on the connection's I/O thread or,
// between Dispatch and the post back, on its handler thread (never both at once).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "net/http_exchange.h"
#include "net/http_internal.h"

namespace sluice::net::internal {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Clock = std::chrono::steady_clock;
  using tcp = boost::asio::ip::tcp;

  // Registers the connection with `shared`. A `refused` connection is answered 503 by
  // Start and is not counted in connections_open.
  static std::shared_ptr<Connection> Create(ServerShared& shared, tcp::socket socket, bool refused);
  Connection(ServerShared& shared, tcp::socket socket, bool refused);
  ~Connection();

  // I/O thread: starts serving (or refusing).
  void Start();
  // I/O thread: the server is stopping; closes the connection if it is between requests.
  void OnStop();
  // Any thread: shuts the socket down so that every pending or blocked I/O on it fails.
  void ForceShutdown();
  // Any thread: the I/O context the connection runs on.
  tcp::socket::executor_type executor() { return socket_.get_executor(); }

 private:
  enum class Phase { kHead, kHandling, kFlushing, kWritingError, kLinger, kClosed };

  void ResetRequest();
  void StartHead();
  void ResumeHead();
  void ReadHead();
  void OnHeadRead(boost::system::error_code ec, size_t n);
  void ParseHead();
  // When the head of the request begun at request_start_ must be in.
  Clock::time_point HeadDeadline() const;
  void BeginRequest();
  void Dispatch();
  // I/O thread: offers the request to the InlineHandler; true if it answered.
  bool TryInline();
  // I/O thread: sends what an inline response left pending, then goes on. The request
  // stays counted in flight (Shared::HandlerDone) until the write completes, so a
  // graceful stop waits for it.
  void FlushPending(bool keep_alive);
  // Handler thread: runs the handler, then hands the connection back to its I/O thread.
  void RunHandler();

  void SetDeadline(Clock::time_point deadline);
  void OnTimer(boost::system::error_code ec, uint64_t generation);
  void SendErrorAndClose(int status);
  void LingerClose();
  void LingerRead();
  void Close();

  ServerShared& shared_;
  tcp::socket socket_;
  boost::asio::steady_timer timer_;
  const int fd_;
  const bool refused_;
  boost::beast::flat_buffer buf_;
  HttpRequest request_;
  std::optional<RequestParser> parser_;
  Exchange exchange_;

  // I/O thread state.
  Phase phase_ = Phase::kHead;
  bool head_started_ = false;  // a byte of the current request has arrived
  bool timed_out_ = false;
  Clock::time_point request_start_;
  Clock::time_point deadline_;  // of the current phase
  bool timer_armed_ = false;    // an async_wait is pending, expiring at timer_expiry_
  Clock::time_point timer_expiry_;
  uint64_t timer_generation_ = 0;
  uint64_t linger_bytes_ = 0;
  std::string error_response_;
};

}  // namespace sluice::net::internal
