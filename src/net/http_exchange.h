// Exchange: the handler-thread side of one request on one connection — the BodyReader
// and ResponseWriter a Handler is given (and the ResponseWriter an InlineHandler is given
// on the I/O thread, in inline mode). Not a public API (see net/http.h).
//
// While a handler runs, its handler thread owns the connection: the socket (used through
// its descriptor with non-blocking recv/sendmsg and poll, so the handler thread blocks and
// the I/O threads never do), the receive buffer and the parser. No Asio operation is
// pending on the socket then. The connection hands ownership over by queueing the handler
// on the pool (Begin) and takes it back through an Asio post after End.
//
// Response framing: with a Content-Length header the body is sent as is; without one it is
// chunked (HTTP/1.1) or delimited by closing the connection (HTTP/1.0). The head is sent
// with the first Write (in one sendmsg with the body's first piece) or on Finish. HEAD,
// 1xx, 204 and 304 responses carry no body; bytes written to them are dropped.
//
// Thread-safety: one thread at a time (the handler thread between Begin and End).
#pragma once

#include <sys/uio.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http.h"
#include "net/http_internal.h"

namespace sluice::net::internal {

class Exchange final : public BodyReader, public ResponseWriter {
 public:
  using Clock = std::chrono::steady_clock;

  Exchange(ServerShared& shared, int fd, boost::beast::flat_buffer& buffer)
      : shared_(shared), fd_(fd), buf_(buffer) {}

  // Starts serving the request whose head `parser` has parsed into `request`; the body
  // must arrive by `deadline`. Both pointers stay valid until End returns.
  void Begin(RequestParser* parser, const HttpRequest* request, Clock::time_point deadline);
  // Completes the response after the handler returned (`handler_failed`: it threw) and
  // drains a small unread body. Returns true if the connection may serve another request.
  bool End(bool handler_failed);

  // Inline mode (an InlineHandler on the I/O thread): writes never wait; what the socket
  // does not take at once is kept pending (copied, or for WriteShared by reference), and
  // the connection then sends it: PendingBuffers stay valid until ClearPending.
  void SetInline(bool is_inline) { inline_ = is_inline; }
  bool HasPending() const { return !pending_.empty(); }
  std::vector<boost::asio::const_buffer> PendingBuffers() const;
  void ClearPending();

  // BodyReader. An empty `out` returns 0 without reading.
  Result<size_t> Read(std::span<char> out) override;

  // ResponseWriter. Headers set after the head was sent are ignored; Transfer-Encoding
  // is the server's business (ignored); `Connection: close` closes after this response.
  void SetStatus(int status) override { status_ = status; }
  void SetHeader(std::string_view name, std::string_view value) override;
  void RemoveHeader(std::string_view name) override;
  Status Write(std::string_view data) override { return WriteBody(data, nullptr); }
  Status WriteShared(std::shared_ptr<const void> owner, std::string_view data) override {
    return WriteBody(data, &owner);
  }
  Status Finish() override;
  bool HeadersSent() const override { return headers_sent_; }

 private:
  // A body piece that `owner` (when not null) keeps alive.
  struct Borrowed {
    const std::shared_ptr<const void>* owner;
    std::string_view bytes;
  };
  // Bytes the socket has not taken yet, in inline mode: a copy, or a view that `owner`
  // keeps alive.
  struct PendingPiece {
    std::string copy;
    std::shared_ptr<const void> owner;
    std::string_view view;
  };

  Status WriteBody(std::string_view data, const std::shared_ptr<const void>* owner);
  bool NoBody() const;
  void BuildHead();
  void MaybeSendContinue();
  Status BodyFailed(Status status, int http_status);
  // Receives into `out`, waiting until the request deadline. Never returns 0.
  Result<size_t> RecvSome(char* out, size_t size);
  Status ReceiveIntoBuffer();
  // Sends every byte of `iov`, waiting up to send_timeout for each bit of progress (in
  // inline mode: keeping the rest pending instead of waiting; an iov within `borrowed`
  // is kept by reference).
  Status SendAll(iovec* iov, int count, const Borrowed* borrowed = nullptr);
  Status SendRaw(std::string_view data);
  Status QueuePending(const iovec* iov, int count, const Borrowed* borrowed);
  bool Drain();

  ServerShared& shared_;
  const int fd_;
  boost::beast::flat_buffer& buf_;

  // Per request.
  RequestParser* parser_ = nullptr;
  const HttpRequest* request_ = nullptr;
  Clock::time_point deadline_;
  Clock::time_point window_start_;  // past request_timeout: the body's rate is measured
  uint64_t window_bytes_ = 0;       // from here (body_received_ then), window by window
  uint64_t body_received_ = 0;      // bytes of the body (and its framing) received so far
  bool draining_ = false;       // the handler is done: what is left is read to be dropped
  std::optional<Clock::time_point> stalled_since_;  // the body's bytes stopped coming at
  bool is_head_ = false;
  bool keep_alive_ = true;
  bool expect_continue_ = false;
  bool continue_sent_ = false;
  std::optional<Status> body_error_;
  int body_error_http_ = 0;  // the status the server answers a failed body with

  int status_ = 200;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::optional<uint64_t> content_length_;
  bool has_date_ = false;
  bool has_server_ = false;
  bool close_requested_ = false;  // the handler set `Connection: close`
  bool headers_sent_ = false;
  bool finished_ = false;
  bool chunked_ = false;
  bool close_ = false;   // the head said (or implied) that the connection closes
  bool broken_ = false;  // the response cannot be completed: close the connection
  uint64_t body_sent_ = 0;
  std::string head_;  // serialized response head; capacity reused across requests
  bool inline_ = false;
  std::vector<PendingPiece> pending_;  // inline mode: response bytes still to send
  size_t pending_copied_ = 0;          // bytes copied into pending_
};

}  // namespace sluice::net::internal
