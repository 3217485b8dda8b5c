// Test helpers: a raw-socket HTTP client (for malformed, stalled and pipelined requests
// that real clients won't send) and a minimal response splitter. Header-only.
//
// Thread-safety: a RawClient belongs to one thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace sluice::net::testing {

class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~RawClient() { Close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  // True once the peer closed (or reset) the connection.
  bool eof() const { return eof_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Receives whatever arrives within `timeout` (stops early at EOF); appends to buffer().
  void ReceiveFor(std::chrono::milliseconds timeout) {
    ReceiveUntil(timeout, [] { return false; });
  }

  // Receives until `done()` holds, EOF or `timeout`. Returns done().
  template <typename Pred>
  bool ReceiveUntil(std::chrono::milliseconds timeout, Pred done) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && !eof_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[65536];
      ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        eof_ = true;
        break;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    return done();
  }

  // Receives one complete response with a Content-Length (or none, for HEAD/`no_body`)
  // and removes it from buffer(). Returns "" on timeout or EOF before completion.
  std::string ReadResponse(std::chrono::milliseconds timeout, bool no_body = false) {
    size_t total = 0;
    auto complete = [&] {
      size_t end = buffer_.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      total = end + 4;
      if (!no_body) total += ContentLength(std::string_view(buffer_).substr(0, end));
      return buffer_.size() >= total;
    };
    if (!ReceiveUntil(timeout, complete)) return "";
    std::string response = buffer_.substr(0, total);
    buffer_.erase(0, total);
    return response;
  }

  // Waits for EOF; returns true if the peer closed within `timeout`.
  bool WaitForEof(std::chrono::milliseconds timeout) {
    ReceiveUntil(timeout, [] { return false; });
    return eof_;
  }

  std::string& buffer() { return buffer_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  // Content-Length of a response head (0 if absent).
  static uint64_t ContentLength(std::string_view head) {
    for (std::string_view key : {"\r\nContent-Length: ", "\r\ncontent-length: "}) {
      size_t pos = head.find(key);
      if (pos != std::string_view::npos) {
        return std::strtoull(std::string(head.substr(pos + key.size(), 20)).c_str(), nullptr, 10);
      }
    }
    return 0;
  }
  // The status code of a response ("HTTP/1.1 200 OK..." -> 200), 0 if malformed.
  static int StatusOf(std::string_view response) {
    if (response.size() < 12 || response.substr(0, 5) != "HTTP/") return 0;
    return std::atoi(std::string(response.substr(9, 3)).c_str());
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

}  // namespace sluice::net::testing
