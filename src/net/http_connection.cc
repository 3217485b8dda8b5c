#include "net/http_connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <exception>
#include <limits>

#include "common/logging.h"

namespace sluice::net::internal {
namespace {

namespace http = boost::beast::http;

constexpr size_t kHeadChunk = 16 * 1024;
constexpr size_t kFlushStep = 1024 * 1024;  // most bytes per write while flushing
constexpr size_t kBufferSlack = 64 * 1024;  // beyond max_header_bytes: body bytes read ahead
constexpr auto kErrorWriteTime = std::chrono::seconds(5);
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr uint64_t kMaxLingerBytes = 4 * 1024 * 1024;

int HeadErrorStatus(boost::beast::error_code ec) {
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::body_limit) return 413;
  return 400;
}

}  // namespace

std::shared_ptr<Connection> Connection::Create(ServerShared& shared, tcp::socket socket,
                                               bool refused) {
  if (refused) {
    shared.connections_refused.fetch_add(1, std::memory_order_relaxed);
  } else {
    shared.connections_accepted.fetch_add(1, std::memory_order_relaxed);
    shared.connections_open.fetch_add(1, std::memory_order_relaxed);
  }
  auto conn = std::make_shared<Connection>(shared, std::move(socket), refused);
  std::lock_guard lock(shared.mu);
  shared.conns.emplace(conn.get(), conn);
  return conn;
}

Connection::Connection(ServerShared& shared, tcp::socket socket, bool refused)
    : shared_(shared),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      fd_(socket_.native_handle()),
      refused_(refused),
      buf_(shared.options.max_header_bytes + kBufferSlack),
      exchange_(shared, fd_, buf_) {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  auto remote = socket_.remote_endpoint(ec);
  if (!ec) request_.remote = remote.address().to_string() + ":" + std::to_string(remote.port());
}

Connection::~Connection() {
  {
    std::lock_guard lock(shared_.mu);
    shared_.conns.erase(this);
  }
  if (!refused_) shared_.connections_open.fetch_sub(1, std::memory_order_relaxed);
}

void Connection::Start() {
  if (refused_) {
    SendErrorAndClose(503);
  } else {
    StartHead();
  }
}

void Connection::OnStop() {
  if (phase_ == Phase::kHead && !head_started_) Close();
}

void Connection::ForceShutdown() { ::shutdown(fd_, SHUT_RDWR); }

void Connection::ResetRequest() {
  request_.headers.clear();
  request_.content_length.reset();
  parser_.emplace(&request_);
  parser_->header_limit(static_cast<uint32_t>(
      std::min<size_t>(shared_.options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
  parser_->body_limit(shared_.options.max_body_bytes);
  head_started_ = false;
  timed_out_ = false;
}

void Connection::StartHead() {
  ResetRequest();
  ResumeHead();
}

void Connection::ResumeHead() {
  if (phase_ == Phase::kClosed) return;
  if (shared_.stopping.load(std::memory_order_relaxed)) {
    Close();
    return;
  }
  phase_ = Phase::kHead;
  if (!head_started_ && buf_.size() > 0) {  // the start of a pipelined request
    head_started_ = true;
    request_start_ = Clock::now();
  }
  if (head_started_) {
    SetDeadline(HeadDeadline());
    ParseHead();
  } else {
    SetDeadline(Clock::now() + shared_.options.idle_timeout);
    ReadHead();
  }
}

void Connection::ReadHead() {
  size_t room = std::min(kHeadChunk, buf_.max_size() - buf_.size());
  if (room == 0) {
    SendErrorAndClose(431);
    return;
  }
  socket_.async_read_some(buf_.prepare(room),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            self->OnHeadRead(ec, n);
                          });
}

void Connection::OnHeadRead(boost::system::error_code ec, size_t n) {
  if (phase_ != Phase::kHead) return;
  if (timed_out_) {
    if (head_started_ || n > 0) {
      SendErrorAndClose(408);
    } else {
      Close();  // idle keep-alive connection: close silently
    }
    return;
  }
  if (ec) {
    Close();
    return;
  }
  buf_.commit(n);
  shared_.bytes_in.fetch_add(n, std::memory_order_relaxed);
  if (!head_started_) {
    head_started_ = true;
    request_start_ = Clock::now();
    SetDeadline(HeadDeadline());
  }
  ParseHead();
}

Connection::Clock::time_point Connection::HeadDeadline() const {
  return request_start_ +
         std::min(shared_.options.head_timeout, shared_.options.request_timeout);
}

void Connection::ParseHead() {
  for (;;) {
    boost::beast::error_code ec;
    size_t used = parser_->put(buf_.data(), ec);
    buf_.consume(used);
    if (ec == http::error::need_more) {
      ReadHead();
      return;
    }
    if (ec) {
      SendErrorAndClose(HeadErrorStatus(ec));
      return;
    }
    if (parser_->is_header_done()) {
      Dispatch();
      return;
    }
    if (used == 0) {
      ReadHead();
      return;
    }
  }
}

void Connection::BeginRequest() {
  shared_.requests.fetch_add(1, std::memory_order_relaxed);
  if (auto len = parser_->content_length()) request_.content_length = *len;
  exchange_.Begin(&*parser_, &request_, request_start_ + shared_.options.request_timeout);
  shared_.HandlerStarted();
}

void Connection::Dispatch() {
  phase_ = Phase::kHandling;
  BeginRequest();
  if (shared_.inline_handler && parser_->is_done() && TryInline()) return;
  shared_.pool->Submit([self = shared_from_this()] { self->RunHandler(); });
}

bool Connection::TryInline() {
  exchange_.SetInline(true);
  bool handled = false;
  bool failed = false;
  try {
    handled = shared_.inline_handler(request_, exchange_);
  } catch (const std::exception& e) {
    SLUICE_LOG_ERROR("http: inline handler for {} {} threw: {}", request_.method, request_.target,
                     e.what());
    failed = true;
  } catch (...) {
    failed = true;
  }
  if (!handled && !failed && !exchange_.HeadersSent()) {
    exchange_.SetInline(false);  // not answered: the Handler takes it
    return false;
  }
  bool keep_alive = exchange_.End(failed);
  if (exchange_.HasPending()) {
    FlushPending(keep_alive);  // the request counts as in flight until it is sent
    return true;
  }
  shared_.HandlerDone();
  if (!keep_alive) {
    LingerClose();
  } else if (buf_.size() > 0) {
    // Pipelined requests: continue from the queue rather than recursing.
    boost::asio::post(socket_.get_executor(), [self = shared_from_this()] { self->StartHead(); });
  } else {
    StartHead();
  }
  return true;
}

void Connection::FlushPending(bool keep_alive) {
  phase_ = Phase::kFlushing;
  SetDeadline(Clock::now() + shared_.options.send_timeout);
  // send_timeout bounds a write that makes no progress (as on handler threads), not the
  // whole response: the deadline moves on with every piece the socket takes.
  auto on_progress = [this, sent = size_t{0}](const boost::system::error_code& ec,
                                             size_t total) mutable -> size_t {
    if (ec || phase_ != Phase::kFlushing) return 0;  // failed, or closed meanwhile
    if (total != sent) {
      sent = total;
      SetDeadline(Clock::now() + shared_.options.send_timeout);
    }
    return kFlushStep;
  };
  boost::asio::async_write(
      socket_, exchange_.PendingBuffers(), std::move(on_progress),
      [self = shared_from_this(), keep_alive](boost::system::error_code ec, size_t n) {
        self->shared_.bytes_out.fetch_add(n, std::memory_order_relaxed);
        self->exchange_.ClearPending();
        // A graceful stop waits for this response as for a handler's (up to its grace).
        self->shared_.HandlerDone();
        if (self->phase_ != Phase::kFlushing) return;
        if (ec) {
          self->Close();
        } else if (keep_alive) {
          self->StartHead();
        } else {
          self->LingerClose();
        }
      });
}

void Connection::RunHandler() {
  bool failed = false;
  try {
    shared_.handler(request_, exchange_, exchange_);
  } catch (const std::exception& e) {
    SLUICE_LOG_ERROR("http: handler for {} {} threw: {}", request_.method, request_.target,
                     e.what());
    failed = true;
  } catch (...) {
    SLUICE_LOG_ERROR("http: handler for {} {} threw", request_.method, request_.target);
    failed = true;
  }
  bool keep_alive = exchange_.End(failed);
  shared_.HandlerDone();
  boost::asio::post(socket_.get_executor(), [self = shared_from_this(), keep_alive] {
    if (keep_alive) {
      self->StartHead();
    } else {
      self->LingerClose();
    }
  });
}

void Connection::SetDeadline(Clock::time_point deadline) {
  deadline_ = deadline;
  // A pending wait that expires no later is kept: when it fires, OnTimer re-arms it for
  // the current deadline. So a busy keep-alive connection touches its timer rarely.
  if (timer_armed_ && timer_expiry_ <= deadline) return;
  timer_armed_ = true;
  timer_expiry_ = deadline;
  timer_.expires_at(deadline);
  timer_.async_wait([self = shared_from_this(), generation = ++timer_generation_](
                        boost::system::error_code ec) { self->OnTimer(ec, generation); });
}

void Connection::OnTimer(boost::system::error_code ec, uint64_t generation) {
  if (generation != timer_generation_) return;  // superseded by a later wait
  timer_armed_ = false;
  if (ec || phase_ == Phase::kClosed || phase_ == Phase::kHandling) return;
  if (Clock::now() < deadline_) {
    SetDeadline(deadline_);
    return;
  }
  if (phase_ == Phase::kHead) {
    timed_out_ = true;
    boost::system::error_code ignored;
    socket_.cancel(ignored);  // OnHeadRead answers 408 or closes
  } else {
    Close();
  }
}

void Connection::SendErrorAndClose(int status) {
  if (status == 408) {
    shared_.timeouts.fetch_add(1, std::memory_order_relaxed);
  } else if (status != 503) {
    shared_.bad_requests.fetch_add(1, std::memory_order_relaxed);
  }
  phase_ = Phase::kWritingError;
  error_response_ = ErrorResponse(status);
  SetDeadline(Clock::now() + kErrorWriteTime);
  boost::asio::async_write(socket_, boost::asio::buffer(error_response_),
                           [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                             self->shared_.bytes_out.fetch_add(n, std::memory_order_relaxed);
                             if (self->phase_ != Phase::kWritingError) return;
                             if (ec) {
                               self->Close();
                             } else {
                               self->LingerClose();
                             }
                           });
}

void Connection::LingerClose() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kLinger;
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  linger_bytes_ = 0;
  buf_.clear();
  SetDeadline(Clock::now() + kLingerTime);
  LingerRead();
}

void Connection::LingerRead() {
  socket_.async_read_some(buf_.prepare(std::min(kHeadChunk, buf_.max_size())),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            if (self->phase_ != Phase::kLinger) return;
                            self->linger_bytes_ += n;
                            if (ec || self->linger_bytes_ > kMaxLingerBytes) {
                              self->Close();
                            } else {
                              self->LingerRead();
                            }
                          });
}

void Connection::Close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.cancel(ignored);
  ++timer_generation_;
  timer_armed_ = false;
  timer_.cancel();
}

}  // namespace sluice::net::internal
