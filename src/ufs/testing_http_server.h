// A tiny HTTP/1.1 server on a loopback port, for tests of the HTTP transport: each
// request goes to a handler that decides the response (an injected 503, a delay longer
// than the client's timeout, a static file with Range support). One thread accepts;
// each connection gets a thread (at most kMaxConnections at once) and is closed after
// one response. Responses to HEAD carry the headers and Content-Length of the
// corresponding GET but no body.
//
// Thread-safety: the handler runs on connection threads, possibly concurrently. The
// destructor stops accepting, interrupts delays and joins every thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::ufs::testing {

struct TestHttpRequest {
  std::string method;
  std::string target;                          // path and query, as sent
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string Header(const std::string& name) const;
};

struct TestHttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Waited before anything is sent (interrupted when the server stops).
  std::chrono::milliseconds delay{0};

  static TestHttpResponse Make(int status, std::string body = {}) {
    TestHttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

class TestHttpServer {
 public:
  using Handler = std::function<TestHttpResponse(const TestHttpRequest&)>;
  static constexpr int kMaxConnections = 64;

  // Binds 127.0.0.1 on a free port and starts serving. Check ok() before use.
  explicit TestHttpServer(Handler handler);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  bool ok() const { return listen_fd_ >= 0; }
  int port() const { return port_; }
  std::string url() const;  // http://127.0.0.1:PORT
  // Requests received so far (counted before the handler runs).
  int requests() const { return requests_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);
  // Sleeps up to `d`; returns false if the server is stopping.
  bool Wait(std::chrono::milliseconds d);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> active_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;  // GUARDED_BY(mu_)
  std::thread acceptor_;
};

// Static files for TestHttpServer: GET/HEAD with Range (206, 416), ETag (optional),
// Last-Modified; 404 for unknown paths. Thread-safe.
class StaticFiles {
 public:
  explicit StaticFiles(bool with_etags = true) : with_etags_(with_etags) {}
  // Serves `data` at `path` ("/base/key"), with a new ETag and Last-Modified.
  void Put(const std::string& path, std::string data);
  TestHttpResponse Handle(const TestHttpRequest& request);
  TestHttpServer::Handler AsHandler() {
    return [this](const TestHttpRequest& r) { return Handle(r); };
  }

 private:
  struct File {
    std::string data;
    std::string etag;
    time_t mtime = 0;
  };
  const bool with_etags_;
  std::mutex mu_;
  std::map<std::string, File> files_;  // GUARDED_BY(mu_)
  int generation_ = 0;                 // GUARDED_BY(mu_)
};

}  // namespace sluice::ufs::testing
