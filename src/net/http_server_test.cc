// HttpServer end to end: real server on port 0, libcurl and raw-socket clients.
#include "net/http_server.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/testing_http_client.h"

namespace sluice::net {
namespace {

using namespace std::chrono_literals;
using testing::RawClient;

constexpr auto kWait = 5000ms;

uint64_t Fnv1a(uint64_t h, const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 1099511628211ULL;
  }
  return h;
}
constexpr uint64_t kFnvBasis = 14695981039346656037ULL;

char PatternByte(uint64_t i) { return static_cast<char>((i * 131 + i / 4096) & 0xFF); }

struct CurlResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string headers;
};

size_t AppendTo(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// One easy handle = one keep-alive connection, reused across Perform calls.
class Curl {
 public:
  Curl() {
    static const bool kInit = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
    (void)kInit;
    easy_ = curl_easy_init();
  }
  ~Curl() { curl_easy_cleanup(easy_); }
  CURL* get() { return easy_; }

  CurlResult Perform(const std::string& url, const char* method = "GET",
                     curl_slist* headers = nullptr) {
    CurlResult r;
    curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(easy_, CURLOPT_NOBODY, std::string(method) == "HEAD" ? 1L : 0L);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, AppendTo);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, AppendTo);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, &r.headers);
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, 20000L);
    r.code = curl_easy_perform(easy_);
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
  }

 private:
  CURL* easy_;
};

void Echo(const HttpRequest& req, BodyReader&, ResponseWriter& w);  // below

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(Handler handler, ServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<HttpServer>(options, std::move(handler));
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // A server whose Handler is Echo and whose InlineHandler is `inline_handler`.
  void StartInline(InlineHandler inline_handler, ServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<HttpServer>(options, Echo, std::move(inline_handler));
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // GET /big on a fresh connection, read only after the socket buffers filled up, must
  // end with `body`; the connection then serves another request.
  void ExpectBigBodyThenMore(const std::string& body) {
    RawClient raw(server_->port());
    ASSERT_TRUE(raw.Send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::this_thread::sleep_for(100ms);  // let the socket buffers fill up
    std::string response = raw.ReadResponse(kWait);
    ASSERT_GE(response.size(), body.size());
    EXPECT_EQ(response.substr(response.size() - body.size()), body);
    ASSERT_TRUE(raw.Send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_NE(raw.ReadResponse(kWait).find("GET /after ?"), std::string::npos);
  }
  // `n` bytes, a letter changing every 4 KiB (so a misplaced piece shows).
  static std::string Lettered(size_t n) {
    std::string s(n, 'q');
    for (size_t i = 0; i < n; i += 4096) s[i] = static_cast<char>('a' + (i / 4096) % 26);
    return s;
  }
  std::string Url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::unique_ptr<HttpServer> server_;
};

void Echo(const HttpRequest& req, BodyReader&, ResponseWriter& w) {
  (void)w.Send(200, "text/plain", req.method + " " + req.path + " ?" + req.query);
}

TEST_F(HttpServerTest, GetWithContentLength) {
  Start(Echo);
  Curl curl;
  CurlResult r = curl.Perform(Url("/bucket/a%20b?list-type=2"));
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /bucket/a%20b ?list-type=2");
  EXPECT_NE(r.headers.find("Server: sluice"), std::string::npos) << r.headers;
  EXPECT_NE(r.headers.find("Date: "), std::string::npos);
  EXPECT_NE(r.headers.find("Content-Length: 30"), std::string::npos);
  EXPECT_NE(r.headers.find("Content-Type: text/plain"), std::string::npos);
}

TEST_F(HttpServerTest, RemovedHeadersAreNotSent) {
  Start([](const HttpRequest&, BodyReader&, ResponseWriter& w) {
    w.SetHeader("Content-Range", "bytes 0-9/100");  // an earlier attempt's, say
    w.SetHeader("ETag", "\"old\"");
    w.SetHeader("Content-Length", "999");
    w.RemoveHeader("content-range");  // any case
    w.RemoveHeader("Content-Length");
    w.SetHeader("ETag", "\"new\"");
    (void)w.Write("hello");  // no Content-Length left: chunked
    (void)w.Finish();
  });
  Curl curl;
  CurlResult r = curl.Perform(Url("/x"));
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.headers.find("Content-Range"), std::string::npos) << r.headers;
  EXPECT_EQ(r.headers.find("Content-Length"), std::string::npos) << r.headers;
  EXPECT_EQ(r.headers.find("\"old\""), std::string::npos) << r.headers;
  EXPECT_NE(r.headers.find("ETag: \"new\""), std::string::npos) << r.headers;
}

TEST_F(HttpServerTest, RequestCarriesHeadersAndRemote) {
  HttpRequest seen;
  Start([&](const HttpRequest& req, BodyReader&, ResponseWriter& w) {
    seen = req;
    (void)w.Send(204, "", "");
  });
  Curl curl;
  curl_slist* headers = curl_slist_append(nullptr, "X-Amz-Date: 20240101T000000Z");
  CurlResult r = curl.Perform(Url("/x"), "DELETE", headers);
  curl_slist_free_all(headers);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(seen.method, "DELETE");
  EXPECT_EQ(seen.Header("x-amz-date"), "20240101T000000Z");
  EXPECT_EQ(seen.remote.rfind("127.0.0.1:", 0), 0u) << seen.remote;
  EXPECT_FALSE(seen.content_length.has_value());
}

TEST_F(HttpServerTest, ChunkedResponseWithoutContentLength) {
  Start([](const HttpRequest&, BodyReader&, ResponseWriter& w) {
    w.SetStatus(200);
    for (int i = 0; i < 3; ++i) {
      if (!w.Write("piece" + std::to_string(i) + ";").ok()) return;
    }
    (void)w.Finish();
  });
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.Send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(
      raw.ReceiveUntil(kWait, [&] { return raw.buffer().find("0\r\n\r\n") != std::string::npos; }));
  EXPECT_NE(raw.buffer().find("Transfer-Encoding: chunked"), std::string::npos) << raw.buffer();
  EXPECT_NE(raw.buffer().find("7\r\npiece0;\r\n"), std::string::npos);
  Curl curl;
  CurlResult r = curl.Perform(Url("/c"));
  EXPECT_EQ(r.body, "piece0;piece1;piece2;");
}

TEST_F(HttpServerTest, ChunkedResponseLeftUnfinishedIsCutNotCompleted) {
  // A handler that stops mid-body (a forwarded response whose source failed) must not
  // look complete: no terminating chunk, the connection closes.
  Start([](const HttpRequest&, BodyReader&, ResponseWriter& w) {
    w.SetStatus(200);
    (void)w.Write("partial;");
  });
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.Send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(raw.WaitForEof(kWait));
  EXPECT_NE(raw.buffer().find("partial;"), std::string::npos) << raw.buffer();
  EXPECT_EQ(raw.buffer().find("0\r\n\r\n"), std::string::npos) << raw.buffer();
}

TEST_F(HttpServerTest, HeadSendsHeadersWithoutBodyAndKeepsConnection) {
  Start([](const HttpRequest& req, BodyReader&, ResponseWriter& w) {
    if (req.method == "HEAD") {
      w.SetStatus(200);
      w.SetHeader("Content-Length", "1234");
      w.SetHeader("ETag", "\"abc\"");
      (void)w.Finish();
    } else {
      (void)w.Send(200, "text/plain", "after");
    }
  });
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.Send("HEAD /o HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string head = raw.ReadResponse(kWait, /*no_body=*/true);
  EXPECT_EQ(RawClient::StatusOf(head), 200) << head;
  EXPECT_NE(head.find("Content-Length: 1234"), std::string::npos);
  EXPECT_NE(head.find("ETag: \"abc\""), std::string::npos);
  ASSERT_TRUE(raw.Send("GET /o HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string get = raw.ReadResponse(kWait);
  EXPECT_EQ(RawClient::StatusOf(get), 200) << raw.buffer();
  EXPECT_EQ(get.substr(get.size() - 5), "after");
}

TEST_F(HttpServerTest, KeepAliveReusesOneConnection) {
  Start(Echo);
  Curl curl;
  for (int i = 0; i < 20; ++i) {
    CurlResult r = curl.Perform(Url("/k" + std::to_string(i)));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "GET /k" + std::to_string(i) + " ?");
  }
  ServerStats stats = server_->GetStats();
  EXPECT_EQ(stats.connections_accepted, 1u);
  EXPECT_EQ(stats.requests, 20u);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Start(Echo);
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.Send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string first = raw.ReadResponse(kWait);
  std::string second = raw.ReadResponse(kWait);
  EXPECT_NE(first.find("GET /1 ?"), std::string::npos) << first;
  EXPECT_NE(second.find("GET /2 ?"), std::string::npos) << second;
}

TEST_F(HttpServerTest, Http10ClosesAfterResponse) {
  Start(Echo);
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.Send("GET /old HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(raw.WaitForEof(kWait));
  EXPECT_EQ(RawClient::StatusOf(raw.buffer()), 200);
  EXPECT_NE(raw.buffer().find("Connection: close"), std::string::npos) << raw.buffer();
}

// Reads the body in 64 KiB pieces and answers "<bytes> <fnv1a>": never holds it whole.
void ChecksumBody(const HttpRequest&, BodyReader& body, ResponseWriter& w) {
  char buf[64 * 1024];
  uint64_t total = 0, hash = kFnvBasis;
  for (;;) {
    Result<size_t> n = body.Read(std::span<char>(buf, sizeof(buf)));
    if (!n.ok()) {
      (void)w.Send(400, "text/plain", n.status().ToString());
      return;
    }
    if (*n == 0) break;
    hash = Fnv1a(hash, buf, *n);
    total += *n;
  }
  (void)w.Send(200, "text/plain", std::to_string(total) + " " + std::to_string(hash));
}

struct Upload {
  uint64_t size;
  uint64_t sent = 0;
};

size_t ReadPattern(char* out, size_t size, size_t n, void* arg) {
  auto* up = static_cast<Upload*>(arg);
  size_t want = std::min<uint64_t>(size * n, up->size - up->sent);
  for (size_t i = 0; i < want; ++i) out[i] = PatternByte(up->sent + i);
  up->sent += want;
  return want;
}

std::string ExpectedChecksum(uint64_t size) {
  uint64_t hash = kFnvBasis;
  for (uint64_t i = 0; i < size; ++i) {
    char c = PatternByte(i);
    hash = Fnv1a(hash, &c, 1);
  }
  return std::to_string(size) + " " + std::to_string(hash);
}

CurlResult Put(Curl& curl, const std::string& url, uint64_t size, bool chunked,
               const char* expect) {
  Upload up{size};
  curl_slist* headers = nullptr;
  if (chunked) headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
  headers = curl_slist_append(headers, expect);
  curl_easy_setopt(curl.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_READFUNCTION, ReadPattern);
  curl_easy_setopt(curl.get(), CURLOPT_READDATA, &up);
  if (!chunked) curl_easy_setopt(curl.get(), CURLOPT_INFILESIZE_LARGE, curl_off_t(size));
  CurlResult r = curl.Perform(url, "PUT", headers);
  curl_slist_free_all(headers);
  return r;
}

TEST_F(HttpServerTest, StreamsLargeRequestBody) {
  Start(ChecksumBody);
  constexpr uint64_t kSize = 50 * 1024 * 1024;
  Curl curl;
  CurlResult r = Put(curl, Url("/big"), kSize, /*chunked=*/false, "Expect:");
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, ExpectedChecksum(kSize));
}

TEST_F(HttpServerTest, ChunkedRequestBodyWithExpectContinue) {
  std::atomic<bool> had_length{true};
  Start([&](const HttpRequest& req, BodyReader& body, ResponseWriter& w) {
    had_length = req.content_length.has_value();
    ChecksumBody(req, body, w);
  });
  constexpr uint64_t kSize = 3 * 1024 * 1024 + 17;
  Curl curl;
  CurlResult r = Put(curl, Url("/chunked"), kSize, /*chunked=*/true, "Expect: 100-continue");
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, ExpectedChecksum(kSize));
  EXPECT_FALSE(had_length);
  EXPECT_NE(r.headers.find("100 Continue"), std::string::npos) << r.headers;
}

TEST_F(HttpServerTest, ExpectContinueIsSentWhenHandlerReads) {
  Start(ChecksumBody);
  RawClient raw(server_->port());
  ASSERT_TRUE(
      raw.Send("PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               "Expect: 100-continue\r\n\r\n"));
  ASSERT_TRUE(
      raw.ReceiveUntil(kWait, [&] { return raw.buffer().find("\r\n\r\n") != std::string::npos; }));
  EXPECT_EQ(raw.buffer(), "HTTP/1.1 100 Continue\r\n\r\n");
  raw.buffer().clear();
  ASSERT_TRUE(raw.Send("hello"));
  std::string final_response = raw.ReadResponse(kWait);
  EXPECT_EQ(RawClient::StatusOf(final_response), 200) << final_response;
  std::string expected = "5 " + std::to_string(Fnv1a(kFnvBasis, "hello", 5));
  EXPECT_EQ(final_response.substr(final_response.size() - expected.size()), expected);
}

TEST_F(HttpServerTest, UnreadBodyIsDrainedForKeepAlive) {
  Start(Echo);  // never reads the body
  RawClient raw(server_->port());
  ASSERT_TRUE(
      raw.Send("PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
               "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(RawClient::StatusOf(raw.ReadResponse(kWait)), 200);
  std::string second = raw.ReadResponse(kWait);
  EXPECT_NE(second.find("GET /next ?"), std::string::npos) << second << raw.buffer();
}

TEST_F(HttpServerTest, HandlerThatThrowsGets500) {
  Start([](const HttpRequest&, BodyReader&, ResponseWriter&) { throw std::runtime_error("boom"); });
  Curl curl;
  EXPECT_EQ(curl.Perform(Url("/t")).status, 500);
}

TEST_F(HttpServerTest, HandlerThatReturnsEarlyGetsEmptyResponse) {
  Start([](const HttpRequest&, BodyReader&, ResponseWriter& w) { w.SetStatus(202); });
  Curl curl;
  CurlResult r = curl.Perform(Url("/t"));
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, "");
}

TEST_F(HttpServerTest, InlineHandlerAnswersOrDefers) {
  std::atomic<int> handler_calls{0}, inline_calls{0};
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  server_ = std::make_unique<HttpServer>(
      options,
      [&](const HttpRequest& req, BodyReader& body, ResponseWriter& w) {
        ++handler_calls;
        ChecksumBody(req, body, w);
      },
      [&](const HttpRequest& req, ResponseWriter& w) {
        ++inline_calls;
        if (req.path != "/fast") return false;
        (void)w.Send(200, "text/plain", "inline");
        return true;
      });
  ASSERT_TRUE(server_->Start().ok());
  Curl curl;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(curl.Perform(Url("/fast")).body, "inline");
  EXPECT_EQ(curl.Perform(Url("/slow")).body, "0 " + std::to_string(kFnvBasis));
  CurlResult put = Put(curl, Url("/fast"), 1000, /*chunked=*/false, "Expect:");
  EXPECT_EQ(put.body, ExpectedChecksum(1000));  // requests with a body never go inline
  EXPECT_EQ(inline_calls.load(), 6);
  EXPECT_EQ(handler_calls.load(), 2);
  EXPECT_EQ(server_->GetStats().connections_accepted, 1u);
}

TEST_F(HttpServerTest, InlineResponseLargerThanSocketBufferIsFlushed) {
  const std::string big = Lettered(8 << 20);
  StartInline([&](const HttpRequest& req, ResponseWriter& w) {
    if (req.path != "/big") return false;
    (void)w.Send(200, "application/octet-stream", big);
    return true;
  });
  ExpectBigBodyThenMore(big);
}

TEST_F(HttpServerTest, InlineSharedBodyIsKeptByReferenceUntilSent) {
  // 24 MiB: more than the 16 MiB an inline response may have copied, so it goes through
  // only because the unsent bytes are held by reference.
  const std::string expected = Lettered(24 << 20);
  auto owner = std::make_shared<const std::string>(expected);
  std::weak_ptr<const std::string> watch = owner;
  StartInline([&](const HttpRequest& req, ResponseWriter& w) {
    if (req.path != "/big" || !owner) return false;
    w.SetStatus(200);
    w.SetHeader("Content-Length", std::to_string(owner->size()));
    const std::string_view half(owner->data(), owner->size() / 2);
    const std::string_view rest(owner->data() + half.size(), owner->size() - half.size());
    EXPECT_TRUE(w.WriteShared(owner, half).ok());
    EXPECT_TRUE(w.Write("").ok());
    EXPECT_TRUE(w.WriteShared(owner, rest).ok());
    EXPECT_TRUE(w.Finish().ok());
    owner.reset();  // from now on only the server's pending bytes hold it
    return true;
  });
  ExpectBigBodyThenMore(expected);
  EXPECT_TRUE(watch.expired());  // released once sent
}

TEST_F(HttpServerTest, InlineFlushToASlowButSteadyReaderIsNotCutOff) {
  // send_timeout bounds a write that makes no progress, not a whole inline response: a
  // client that takes over twice the timeout to read 16 MiB (64 reads of 256 KiB, 20 ms
  // apart), but keeps reading, gets all of it.
  auto body = std::make_shared<const std::string>(16 << 20, 'z');
  ServerOptions options;
  options.send_timeout = 500ms;
  StartInline(
      [&](const HttpRequest&, ResponseWriter& w) {
        w.SetStatus(200);
        w.SetHeader("Content-Length", std::to_string(body->size()));
        EXPECT_TRUE(w.WriteShared(body, *body).ok());
        EXPECT_TRUE(w.Finish().ok());
        return true;
      },
      options);
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got;
  std::vector<char> chunk(256 << 10);
  const auto start = std::chrono::steady_clock::now();
  auto complete = [&] {
    const size_t head = got.find("\r\n\r\n");
    return head != std::string::npos && got.size() >= head + 4 + body->size();
  };
  while (!complete() && std::chrono::steady_clock::now() - start < 30s) {
    ssize_t n = ::recv(raw.fd(), chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n == 0) break;  // closed: cut off
    if (n > 0) got.append(chunk.data(), static_cast<size_t>(n));
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GT(std::chrono::steady_clock::now() - start, options.send_timeout * 2);
  ASSERT_TRUE(complete()) << got.size() << " bytes received";
  EXPECT_EQ(got.substr(got.size() - body->size()), *body);
}

TEST_F(HttpServerTest, GracefulStopLetsAnInlineResponseFinishSending) {
  // An inline answer the socket did not take at once is still in flight: Stop waits for
  // it (within its grace) as for a handler's, instead of cutting the body short.
  const std::string body = Lettered(8 << 20);
  StartInline([&](const HttpRequest&, ResponseWriter& w) {
    (void)w.Send(200, "application/octet-stream", body);
    return true;
  });
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.Send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(100ms);  // answered; most of the body still pending
  std::thread stop([&] { server_->Stop(10s); });
  std::string got;
  std::vector<char> chunk(1 << 20);
  for (;;) {
    ssize_t n = ::recv(raw.fd(), chunk.data(), chunk.size(), 0);
    if (n <= 0) break;
    got.append(chunk.data(), static_cast<size_t>(n));
  }
  stop.join();
  const size_t head = got.find("\r\n\r\n");
  ASSERT_NE(head, std::string::npos);
  EXPECT_EQ(got.size() - head - 4, body.size());
  EXPECT_TRUE(got.substr(head + 4) == body);
}

TEST_F(HttpServerTest, ManyConcurrentClients) {
  ServerOptions options;
  options.handler_threads = 16;
  Start(Echo, options);
  constexpr int kClients = 64, kRequests = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      Curl curl;
      for (int i = 0; i < kRequests; ++i) {
        std::string path = "/c" + std::to_string(c) + "/" + std::to_string(i);
        CurlResult r = curl.Perform(Url(path));
        if (r.code == CURLE_OK && r.status == 200 && r.body == "GET " + path + " ?") ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(server_->GetStats().requests, static_cast<uint64_t>(kClients * kRequests));
}

}  // namespace
}  // namespace sluice::net
