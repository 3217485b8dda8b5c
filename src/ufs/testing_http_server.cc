#include "ufs/testing_http_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <ctime>

namespace sluice::ufs::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 412:
      return "Precondition Failed";
    case 416:
      return "Range Not Satisfiable";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string HttpDate(time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

}  // namespace

std::string TestHttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

TestHttpServer::TestHttpServer(Handler handler) : handler_(std::move(handler)) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return;
  }
  listen_fd_ = fd;
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TestHttpServer::~TestHttpServer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string TestHttpServer::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

bool TestHttpServer::Wait(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void TestHttpServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (active_.load() >= kMaxConnections) {
      close(fd);
      continue;
    }
    ++active_;
    std::lock_guard lock(mu_);
    workers_.emplace_back([this, fd] {
      Serve(fd);
      close(fd);
      --active_;
    });
  }
}

void TestHttpServer::Serve(int fd) {
  std::string in;
  char buf[16384];
  size_t header_end = std::string::npos;
  while (header_end == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (stopping_) return;
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    in.append(buf, static_cast<size_t>(n));
    header_end = in.find("\r\n\r\n");
  }
  TestHttpRequest req;
  size_t line_end = in.find("\r\n");
  std::string request_line = in.substr(0, line_end);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = request_line.find(' ', sp1 + 1);
  req.method = request_line.substr(0, sp1);
  req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t pos = line_end + 2;
  while (pos < header_end) {
    size_t e = in.find("\r\n", pos);
    std::string line = in.substr(pos, e - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      req.headers[Lower(Trim(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
    }
    pos = e + 2;
  }
  size_t want = std::strtoull(req.Header("content-length").c_str(), nullptr, 10);
  req.body = in.substr(header_end + 4);
  while (req.body.size() < want && !stopping_) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    req.body.append(buf, static_cast<size_t>(n));
  }
  ++requests_;
  TestHttpResponse resp = handler_(req);
  if (resp.delay.count() > 0 && !Wait(resp.delay)) return;
  std::string out = fmt::format("HTTP/1.1 {} {}\r\n", resp.status, Reason(resp.status));
  bool has_length = false;
  for (const auto& [name, value] : resp.headers) {
    out += fmt::format("{}: {}\r\n", name, value);
    has_length = has_length || Lower(name) == "content-length";
  }
  if (!has_length) out += fmt::format("Content-Length: {}\r\n", resp.body.size());
  out += "Connection: close\r\n\r\n";
  if (req.method != "HEAD") out += resp.body;
  SendAll(fd, out);
  shutdown(fd, SHUT_WR);
}

void StaticFiles::Put(const std::string& path, std::string data) {
  std::lock_guard lock(mu_);
  File& f = files_[path];
  f.data = std::move(data);
  ++generation_;
  f.etag = fmt::format("\"etag-{}\"", generation_);
  f.mtime = time(nullptr) + generation_;  // distinct per version, even within a second
}

TestHttpResponse StaticFiles::Handle(const TestHttpRequest& request) {
  std::lock_guard lock(mu_);
  TestHttpResponse resp;
  auto it = files_.find(request.target);
  if (it == files_.end() || (request.method != "GET" && request.method != "HEAD")) {
    resp.status = it == files_.end() ? 404 : 405;
    resp.body = "not here";
    return resp;
  }
  const File& f = it->second;
  if (with_etags_) resp.headers.emplace_back("ETag", f.etag);
  resp.headers.emplace_back("Last-Modified", HttpDate(f.mtime));
  resp.headers.emplace_back("Accept-Ranges", "bytes");
  std::string range = request.Header("range");
  if (!range.starts_with("bytes=")) {
    resp.body = f.data;
    return resp;
  }
  uint64_t first = std::strtoull(range.c_str() + 6, nullptr, 10);
  size_t dash = range.find('-');
  uint64_t last =
      dash + 1 < range.size() ? std::strtoull(range.c_str() + dash + 1, nullptr, 10) : UINT64_MAX;
  if (first >= f.data.size()) {
    resp.status = 416;
    resp.headers.emplace_back("Content-Range", fmt::format("bytes */{}", f.data.size()));
    return resp;
  }
  last = std::min<uint64_t>(last, f.data.size() - 1);
  resp.status = 206;
  resp.headers.emplace_back("Content-Range",
                            fmt::format("bytes {}-{}/{}", first, last, f.data.size()));
  resp.body = f.data.substr(first, last - first + 1);
  return resp;
}

}  // namespace sluice::ufs::testing
