#include "net/http_exchange.h"

#include <poll.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace sluice::net::internal {
namespace {

namespace http = boost::beast::http;

constexpr size_t kRecvChunk = 64 * 1024;
constexpr uint64_t kMaxDrainBytes = 1024 * 1024;  // unread body we read past to keep a connection
constexpr auto kDrainTime = std::chrono::seconds(2);
constexpr size_t kMaxInlinePending = 16 * 1024 * 1024;

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool IContains(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (IEquals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

int PollMillis(std::chrono::steady_clock::duration d) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, INT_MAX));
}

void AppendStatusLine(std::string& out, int status) {
  char code[8];
  auto [end, ec] = std::to_chars(code, code + sizeof(code), status);
  (void)ec;
  auto reason = http::obsolete_reason(static_cast<http::status>(status));
  out.append("HTTP/1.1 ").append(code, end).append(" ").append(reason.data(), reason.size());
  out.append("\r\n");
}

}  // namespace

std::string_view HttpDate() {
  thread_local time_t cached_second = 0;
  thread_local char cached[40];
  thread_local size_t cached_len = 0;
  time_t now = time(nullptr);
  if (now != cached_second) {
    struct tm tm;
    gmtime_r(&now, &tm);
    cached_len = strftime(cached, sizeof(cached), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_second = now;
  }
  return {cached, cached_len};
}

std::string ErrorResponse(int status) {
  std::string out;
  AppendStatusLine(out, status);
  auto reason = http::obsolete_reason(static_cast<http::status>(status));
  std::string body =
      std::to_string(status) + " " + std::string(reason.data(), reason.size()) + "\n";
  out.append("Server: sluice\r\nDate: ").append(HttpDate());
  out.append("\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ");
  out.append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return out;
}

void Exchange::Begin(RequestParser* parser, const HttpRequest* request,
                     Clock::time_point deadline) {
  parser_ = parser;
  request_ = request;
  deadline_ = deadline;
  window_start_ = Clock::now();
  window_bytes_ = 0;
  body_received_ = 0;
  draining_ = false;
  stalled_since_.reset();
  is_head_ = request->method == "HEAD";
  keep_alive_ = parser->keep_alive();
  expect_continue_ = parser->version() >= 11 && !parser->is_done() &&
                     IEquals(request->Header("Expect"), "100-continue");
  continue_sent_ = false;
  body_error_.reset();
  body_error_http_ = 0;
  status_ = 200;
  headers_.clear();
  content_length_.reset();
  has_date_ = has_server_ = close_requested_ = false;
  headers_sent_ = finished_ = chunked_ = close_ = broken_ = false;
  body_sent_ = 0;
  inline_ = false;
  ClearPending();
}

bool Exchange::End(bool handler_failed) {
  if (!headers_sent_ && (handler_failed || broken_ || body_error_)) {
    // A client that went away mid-body (no status) gets nothing; other failures get one.
    if (handler_failed || broken_ || body_error_http_ != 0) {
      (void)SendRaw(ErrorResponse(body_error_http_ != 0 ? body_error_http_ : 500));
    }
    return false;
  }
  if (!finished_) {
    if (broken_ || handler_failed) return false;
    // A body begun and not finished is a truncated transfer, which only closing the
    // connection shows (a terminating chunk would make it look complete). A response
    // whose head is not out yet is finished here, empty.
    if (headers_sent_ && !NoBody()) return false;
    if (!Finish().ok()) return false;
  }
  if (broken_ || close_ || body_error_) return false;
  if (!parser_->is_done()) {
    if (expect_continue_ && !continue_sent_) return false;  // the client may never send it
    if (!Drain()) return false;
  }
  return !shared_.stopping.load(std::memory_order_relaxed);
}

bool Exchange::Drain() {
  deadline_ = std::min(deadline_, Clock::now() + kDrainTime);
  draining_ = true;
  char scratch[16 * 1024];
  uint64_t drained = 0;
  while (drained <= kMaxDrainBytes) {
    Result<size_t> n = Read(std::span<char>(scratch, sizeof(scratch)));
    if (!n.ok()) return false;
    if (*n == 0) return true;
    drained += *n;
  }
  return false;
}

Result<size_t> Exchange::Read(std::span<char> out) {
  if (body_error_) return *body_error_;
  if (parser_->is_done() || out.empty()) return size_t{0};
  MaybeSendContinue();
  parser_->SetSink(out.data(), out.size());
  for (;;) {
    if (buf_.size() > 0) {
      boost::beast::error_code ec;
      size_t used = parser_->put(buf_.data(), ec);
      buf_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        used = 0;
      }
      if (ec == http::error::body_limit) {
        return BodyFailed(Status::InvalidArgument("request body exceeds max_body_bytes"), 413);
      }
      if (ec) {
        return BodyFailed(Status::InvalidArgument("malformed request body: " + ec.message()), 400);
      }
      if (parser_->produced() > 0) return parser_->produced();
      if (parser_->is_done()) return size_t{0};
      if (used > 0) continue;  // a chunk header: parse on
    }
    auto remaining = parser_->content_length_remaining();
    if (buf_.size() == 0 && remaining) {
      // Plain body and nothing buffered: receive straight into the caller's buffer. The
      // parser then sees bytes that are already in place and only counts them.
      size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), *remaining));
      Result<size_t> n = RecvSome(out.data(), want);
      if (!n.ok()) return n.status();
      boost::beast::error_code ec;
      parser_->put(boost::asio::const_buffer(out.data(), *n), ec);
      return parser_->produced();
    }
    Status s = ReceiveIntoBuffer();
    if (!s.ok()) return s;
  }
}

void Exchange::MaybeSendContinue() {
  if (!expect_continue_ || continue_sent_ || headers_sent_) return;
  continue_sent_ = true;
  // A failure here shows up on the next receive.
  (void)SendRaw("HTTP/1.1 100 Continue\r\n\r\n");
}

Status Exchange::BodyFailed(Status status, int http_status) {
  body_error_ = status;
  body_error_http_ = http_status;
  if (http_status == 408) shared_.timeouts.fetch_add(1, std::memory_order_relaxed);
  if (http_status == 400 || http_status == 413) {
    shared_.bad_requests.fetch_add(1, std::memory_order_relaxed);
  }
  return status;
}

Status Exchange::ReceiveIntoBuffer() {
  size_t room = std::min(kRecvChunk, buf_.max_size() - buf_.size());
  if (room == 0) {
    return BodyFailed(Status::InvalidArgument("malformed request body: chunk line too long"), 400);
  }
  auto mb = buf_.prepare(room);
  Result<size_t> n = RecvSome(static_cast<char*>(mb.data()), mb.size());
  if (!n.ok()) return n.status();
  buf_.commit(*n);
  return Status::OK();
}

Result<size_t> Exchange::RecvSome(char* out, size_t size) {
  for (;;) {
    ssize_t r = ::recv(fd_, out, size, 0);
    if (r > 0) {
      shared_.bytes_in.fetch_add(static_cast<uint64_t>(r), std::memory_order_relaxed);
      body_received_ += static_cast<uint64_t>(r);
      stalled_since_.reset();
      return static_cast<size_t>(r);
    }
    if (r == 0) return BodyFailed(Status::Unavailable("client closed the connection"), 0);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return BodyFailed(Status::Unavailable(std::string("receive failed: ") + strerror(errno)), 0);
    }
    auto now = Clock::now();
    if (now >= deadline_) {
      // An upload still arriving at min_body_rate on average is not cut at
      // request_timeout (a 5 GiB PUT at 17 MB/s would be); a trickle is.
      // The rate is measured over the last window (the whole request for the first, 10 s
      // after that): a fast start does not buy a trickle hours of handler time.
      const double secs = std::chrono::duration<double>(now - window_start_).count();
      const uint64_t floor = shared_.options.min_body_rate;
      if (!draining_ && floor > 0 && secs > 0 &&
          static_cast<double>(body_received_ - window_bytes_) / secs >=
              static_cast<double>(floor)) {
        window_start_ = now;
        window_bytes_ = body_received_;
        deadline_ = now + std::chrono::seconds(10);  // checked again then
      } else {
        return BodyFailed(Status::DeadlineExceeded("request body not received in time"), 408);
      }
    }
    // A body that stops coming for idle_timeout holds its handler thread no longer, however
    // far the request's own deadline is.
    if (!stalled_since_) stalled_since_ = now;
    if (now - *stalled_since_ >= shared_.options.idle_timeout) {
      return BodyFailed(Status::DeadlineExceeded("request body stalled"), 408);
    }
    const auto until = std::min(deadline_, *stalled_since_ + shared_.options.idle_timeout);
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, PollMillis(until - now)) < 0 && errno != EINTR) {
      return BodyFailed(Status::Unavailable(std::string("poll failed: ") + strerror(errno)), 0);
    }
  }
}

void Exchange::SetHeader(std::string_view name, std::string_view value) {
  if (headers_sent_) return;
  if (IEquals(name, "Transfer-Encoding")) return;
  if (IEquals(name, "Connection")) {
    if (IContains(value, "close")) close_requested_ = true;
    return;
  }
  if (IEquals(name, "Content-Length")) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size()) return;
    content_length_ = v;
  }
  has_date_ = has_date_ || IEquals(name, "Date");
  has_server_ = has_server_ || IEquals(name, "Server");
  std::string clean(value);
  std::replace_if(
      clean.begin(), clean.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  for (auto& [n, v] : headers_) {
    if (IEquals(n, name)) {
      v = std::move(clean);
      return;
    }
  }
  headers_.emplace_back(std::string(name), std::move(clean));
}

void Exchange::RemoveHeader(std::string_view name) {
  if (headers_sent_) return;
  if (IEquals(name, "Content-Length")) content_length_.reset();
  if (IEquals(name, "Date")) has_date_ = false;
  if (IEquals(name, "Server")) has_server_ = false;
  std::erase_if(headers_, [&](const auto& h) { return IEquals(h.first, name); });
}

bool Exchange::NoBody() const {
  return is_head_ || (status_ >= 100 && status_ < 200) || status_ == 204 || status_ == 304;
}

void Exchange::BuildHead() {
  bool no_body = NoBody();
  chunked_ = false;
  // A request body left unread that End will not drain (more than kMaxDrainBytes, or of
  // unknown length) means closing: said in the head (RFC 9112 9.6), or the close would
  // reset a client still sending and lose this answer at its end.
  const auto left = parser_->content_length_remaining();
  const bool undrained = !parser_->is_done() && (!left || *left > kMaxDrainBytes);
  close_ = !keep_alive_ || close_requested_ || shared_.stopping.load(std::memory_order_relaxed) ||
           body_error_.has_value() || (expect_continue_ && !continue_sent_ && !parser_->is_done()) ||
           undrained;
  if (!no_body && !content_length_) {
    if (parser_->version() >= 11) {
      chunked_ = true;
    } else {
      close_ = true;  // HTTP/1.0: the body ends when the connection does
    }
  }
  head_.clear();
  AppendStatusLine(head_, status_);
  if (!has_server_) head_.append("Server: sluice\r\n");
  if (!has_date_) head_.append("Date: ").append(HttpDate()).append("\r\n");
  for (const auto& [n, v] : headers_) head_.append(n).append(": ").append(v).append("\r\n");
  if (chunked_) head_.append("Transfer-Encoding: chunked\r\n");
  if (close_) {
    head_.append("Connection: close\r\n");
  } else if (parser_->version() < 11) {
    head_.append("Connection: keep-alive\r\n");
  }
  head_.append("\r\n");
}

Status Exchange::WriteBody(std::string_view data, const std::shared_ptr<const void>* owner) {
  if (finished_) return Status::FailedPrecondition("response already finished");
  if (broken_) return Status::Unavailable("connection is no longer usable");
  bool no_body = NoBody();
  if (!no_body && content_length_ && body_sent_ + data.size() > *content_length_) {
    broken_ = true;
    return Status::InvalidArgument("response body longer than its Content-Length");
  }
  iovec iov[4];
  int count = 0;
  char chunk_line[24];
  if (!headers_sent_) {
    BuildHead();
    headers_sent_ = true;
    iov[count++] = {head_.data(), head_.size()};
  }
  if (!no_body && !data.empty()) {
    void* bytes = const_cast<char*>(data.data());
    if (chunked_) {
      int len = snprintf(chunk_line, sizeof(chunk_line), "%zx\r\n", data.size());
      iov[count++] = {chunk_line, static_cast<size_t>(len)};
      iov[count++] = {bytes, data.size()};
      iov[count++] = {const_cast<char*>("\r\n"), 2};
    } else {
      iov[count++] = {bytes, data.size()};
    }
    body_sent_ += data.size();
  }
  if (count == 0) return Status::OK();
  const Borrowed borrowed{owner, data};
  return SendAll(iov, count, owner != nullptr && *owner ? &borrowed : nullptr);
}

Status Exchange::Finish() {
  if (finished_) return Status::OK();
  if (broken_) return Status::Unavailable("connection is no longer usable");
  bool no_body = NoBody();
  if (!headers_sent_) {
    if (!no_body && !content_length_) SetHeader("Content-Length", "0");
    SLUICE_RETURN_IF_ERROR(Write({}));
  } else if (chunked_) {
    SLUICE_RETURN_IF_ERROR(SendRaw("0\r\n\r\n"));
  } else if (!no_body && content_length_ && body_sent_ < *content_length_) {
    broken_ = true;
    return Status::InvalidArgument("response body shorter than its Content-Length");
  }
  finished_ = true;
  return Status::OK();
}

Status Exchange::SendRaw(std::string_view data) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  return SendAll(&iov, 1);
}

std::vector<boost::asio::const_buffer> Exchange::PendingBuffers() const {
  std::vector<boost::asio::const_buffer> out;
  out.reserve(pending_.size());
  for (const PendingPiece& p : pending_) {
    if (p.owner) {
      out.emplace_back(p.view.data(), p.view.size());
    } else {
      out.emplace_back(p.copy.data(), p.copy.size());
    }
  }
  return out;
}

void Exchange::ClearPending() {
  pending_.clear();
  pending_copied_ = 0;
}

Status Exchange::QueuePending(const iovec* iov, int count, const Borrowed* borrowed) {
  // Whether `v` lies within the borrowed body piece (kept by reference, not copied).
  auto by_ref = [borrowed](const iovec& v) {
    const char* at = static_cast<const char*>(v.iov_base);
    return borrowed != nullptr && at >= borrowed->bytes.data() &&
           at + v.iov_len <= borrowed->bytes.data() + borrowed->bytes.size();
  };
  size_t copied = pending_copied_;
  for (int i = 0; i < count; ++i) {
    if (!by_ref(iov[i])) copied += iov[i].iov_len;
  }
  if (copied > kMaxInlinePending) {
    broken_ = true;
    return Status::ResourceExhausted("inline response larger than the server buffers");
  }
  pending_copied_ = copied;
  for (int i = 0; i < count; ++i) {
    std::string_view bytes(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    if (bytes.empty()) continue;
    if (by_ref(iov[i])) {
      pending_.push_back({{}, *borrowed->owner, bytes});
    } else if (!pending_.empty() && !pending_.back().owner) {
      pending_.back().copy.append(bytes);
    } else {
      pending_.push_back({std::string(bytes), nullptr, {}});
    }
  }
  return Status::OK();
}

Status Exchange::SendAll(iovec* iov, int count, const Borrowed* borrowed) {
  // Inline mode keeps the order: once anything is pending, everything after it queues.
  if (inline_ && !pending_.empty()) return QueuePending(iov, count, borrowed);
  const auto timeout = shared_.options.send_timeout;
  msghdr msg{};
  while (count > 0) {
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    ssize_t r = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (r >= 0) {
      shared_.bytes_out.fetch_add(static_cast<uint64_t>(r), std::memory_order_relaxed);
      auto left = static_cast<size_t>(r);
      while (count > 0 && left >= iov->iov_len) {
        left -= iov->iov_len;
        ++iov;
        --count;
      }
      if (count > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      broken_ = true;
      return Status::Unavailable(std::string("client gone: ") + strerror(errno));
    }
    if (inline_) return QueuePending(iov, count, borrowed);  // an I/O thread never waits
    pollfd pfd{fd_, POLLOUT, 0};
    int p = ::poll(&pfd, 1, PollMillis(timeout));
    if (p == 0) {
      broken_ = true;
      shared_.timeouts.fetch_add(1, std::memory_order_relaxed);
      return Status::DeadlineExceeded("client stopped reading the response");
    }
    if (p < 0 && errno != EINTR) {
      broken_ = true;
      return Status::Unavailable(std::string("poll failed: ") + strerror(errno));
    }
  }
  return Status::OK();
}

}  // namespace sluice::net::internal
