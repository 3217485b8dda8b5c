// HttpServer limits, timeouts, failures and shutdown, driven by raw sockets.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "net/http_server.h"
#include "net/testing_http_client.h"

namespace sluice::net {
namespace {

using namespace std::chrono_literals;
using testing::RawClient;
using Clock = std::chrono::steady_clock;

constexpr auto kWait = 5000ms;

// Polls `cond` every 5 ms for up to 5 s.
template <typename Cond>
bool Eventually(Cond cond) {
  auto deadline = Clock::now() + kWait;
  while (!cond()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

void Ok(const HttpRequest&, BodyReader&, ResponseWriter& w) {
  (void)w.Send(200, "text/plain", "ok");
}

// Reads the body to its end; on failure records the code and returns without answering.
struct BodyConsumer {
  std::atomic<int> calls{0};
  std::atomic<int> error_code{-1};
  void operator()(const HttpRequest&, BodyReader& body, ResponseWriter& w) {
    ++calls;
    char buf[4096];
    for (;;) {
      Result<size_t> n = body.Read(std::span<char>(buf, sizeof(buf)));
      if (!n.ok()) {
        error_code = static_cast<int>(n.status().code());
        return;
      }
      if (*n == 0) break;
    }
    (void)w.Send(200, "text/plain", "read");
  }
};

class HttpServerLimitsTest : public ::testing::Test {
 protected:
  void Start(Handler handler, ServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<HttpServer>(options, std::move(handler));
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  uint16_t port() { return server_->port(); }
  // Sends `request` on a new connection; returns the response; expects the server to close.
  std::string AnswerAndClose(std::string_view request) {
    RawClient raw(port());
    EXPECT_TRUE(raw.Send(request));
    EXPECT_TRUE(raw.WaitForEof(kWait));
    return raw.buffer();
  }
  // Serves a body-reading handler with `options`, sends a PUT whose body stops after 10 of
  // its 1,000 bytes, and expects 408 (not before 250 ms) with the handler's read failing
  // kDeadlineExceeded. Returns how long the answer took.
  Clock::duration StalledBodyGets408(ServerOptions options) {
    auto consumer = std::make_shared<BodyConsumer>();
    Start([consumer](auto& r, auto& b, auto& w) { (*consumer)(r, b, w); }, options);
    const auto start = Clock::now();
    std::string response =
        AnswerAndClose("PUT /s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789");
    const auto took = Clock::now() - start;
    EXPECT_GE(took, 250ms);
    EXPECT_EQ(RawClient::StatusOf(response), 408) << response;
    EXPECT_EQ(consumer->error_code.load(), static_cast<int>(StatusCode::kDeadlineExceeded));
    return took;
  }
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerLimitsTest, OversizedHeaderGets431) {
  ServerOptions options;
  options.max_header_bytes = 4096;
  Start(Ok, options);
  std::string response =
      AnswerAndClose("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
  EXPECT_EQ(RawClient::StatusOf(response), 431) << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos);
}

TEST_F(HttpServerLimitsTest, DeclaredBodyOverLimitGets413WithoutCallingHandler) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  auto consumer = std::make_shared<BodyConsumer>();
  Start([consumer](auto& r, auto& b, auto& w) { (*consumer)(r, b, w); }, options);
  std::string response = AnswerAndClose(
      "PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n" + std::string(2048, 'b'));
  EXPECT_EQ(RawClient::StatusOf(response), 413) << response;
  EXPECT_EQ(consumer->calls.load(), 0);
}

TEST_F(HttpServerLimitsTest, ChunkedBodyOverLimitGets413) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  auto consumer = std::make_shared<BodyConsumer>();
  Start([consumer](auto& r, auto& b, auto& w) { (*consumer)(r, b, w); }, options);
  std::string chunk = "320\r\n" + std::string(800, 'c') + "\r\n";
  std::string response =
      AnswerAndClose("PUT /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk +
                     chunk + "0\r\n\r\n");
  EXPECT_EQ(RawClient::StatusOf(response), 413) << response;
  EXPECT_EQ(consumer->error_code.load(), static_cast<int>(StatusCode::kInvalidArgument));
}

TEST_F(HttpServerLimitsTest, GarbageGets400) {
  Start(Ok);
  std::string response = AnswerAndClose(std::string("\x16\x03\x01\x02\x00\x01garbage\r\n\r\n", 17));
  EXPECT_EQ(RawClient::StatusOf(response), 400) << response;
  EXPECT_GE(server_->GetStats().bad_requests, 1u);
}

TEST_F(HttpServerLimitsTest, AmbiguousFramingGets400AndNothingIsSmuggled) {
  std::atomic<int> calls{0};
  Start([&calls](const HttpRequest&, BodyReader&, ResponseWriter& w) {
    ++calls;
    (void)w.Send(200, "text/plain", "ok");
  });
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string te : {"gzip", "chunked, identity", "identity"}) {
    std::string response = AnswerAndClose("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " +
                                          te + "\r\n\r\n" + smuggled);
    EXPECT_EQ(RawClient::StatusOf(response), 400) << te << ": " << response;
    EXPECT_EQ(response.find("HTTP/1.1", 1), std::string::npos) << "two responses: " << response;
  }
  // Both framings at once, in either order.
  for (const std::string head : {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                                 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"}) {
    std::string response =
        AnswerAndClose("POST /p HTTP/1.1\r\nHost: x\r\n" + head + "\r\n0\r\n\r\n" + smuggled);
    EXPECT_EQ(RawClient::StatusOf(response), 400) << head << response;
  }
  // HTTP/1.0 has no Transfer-Encoding.
  EXPECT_EQ(RawClient::StatusOf(AnswerAndClose(
                "POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
            400);
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(HttpServerLimitsTest, ChunkedTrailersAreNotRequestHeaders) {
  std::atomic<int> headers{-1};
  Start([&headers](const HttpRequest& r, BodyReader& body, ResponseWriter& w) {
    (void)body.ReadAll(1024);
    headers = static_cast<int>(r.headers.size());
    (void)w.Send(200, "text/plain", r.HasHeader("Authorization") ? "trailer" : "clean");
  });
  RawClient raw(port());
  ASSERT_TRUE(raw.Send("PUT /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "3\r\nabc\r\n0\r\nAuthorization: forged\r\n\r\n"));
  raw.ReceiveFor(500ms);
  EXPECT_EQ(RawClient::StatusOf(raw.buffer()), 200) << raw.buffer();
  EXPECT_NE(raw.buffer().find("clean"), std::string::npos) << raw.buffer();
  EXPECT_EQ(headers.load(), 2);
}

TEST_F(HttpServerLimitsTest, TooManyConnectionsGet503) {
  ServerOptions options;
  options.max_connections = 2;
  Start(Ok, options);
  auto first = std::make_unique<RawClient>(port());
  RawClient second(port());
  ASSERT_TRUE(Eventually([&] { return server_->GetStats().connections_open == 2; }));
  std::string refused = AnswerAndClose("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(RawClient::StatusOf(refused), 503) << refused;
  EXPECT_NE(refused.find("Connection: close"), std::string::npos);
  EXPECT_EQ(server_->GetStats().connections_refused, 1u);
  // The admitted connections still work, and a slot frees up when one closes.
  ASSERT_TRUE(second.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(RawClient::StatusOf(second.ReadResponse(kWait)), 200);
  first.reset();
  ASSERT_TRUE(Eventually([&] { return server_->GetStats().connections_open == 1; }));
  RawClient third(port());
  ASSERT_TRUE(third.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(RawClient::StatusOf(third.ReadResponse(kWait)), 200);
}

TEST_F(HttpServerLimitsTest, ABodyStalledForTheIdleTimeoutGets408) {
  // However long request_timeout is: a stalled body does not hold a handler thread.
  ServerOptions options;
  options.idle_timeout = 300ms;
  EXPECT_LT(StalledBodyGets408(options), 3s);
}

TEST_F(HttpServerLimitsTest, StalledBodyGets408AfterRequestTimeout) {
  ServerOptions options;
  options.request_timeout = 300ms;
  StalledBodyGets408(options);
  EXPECT_GE(server_->GetStats().timeouts, 1u);
}

TEST_F(HttpServerLimitsTest, AnUploadStillComingPastRequestTimeoutIsNotCut) {
  // request_timeout bounds a trickle, not a large upload arriving at min_body_rate or more.
  ServerOptions options;
  options.request_timeout = 300ms;
  options.min_body_rate = 20 * 1024;
  auto consumer = std::make_shared<BodyConsumer>();
  Start([consumer](auto& r, auto& b, auto& w) { (*consumer)(r, b, w); }, options);
  RawClient raw(port());
  constexpr int kChunks = 20;  // 20 x 8 KiB over ~1 s: ~160 KiB/s, 3x the timeout
  ASSERT_TRUE(raw.Send(fmt::format("PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                                   kChunks * 8192)));
  for (int i = 0; i < kChunks; ++i) {
    ASSERT_TRUE(raw.Send(std::string(8192, 'u')));
    std::this_thread::sleep_for(50ms);
  }
  const std::string response = raw.ReadResponse(kWait);
  EXPECT_EQ(RawClient::StatusOf(response), 200) << response;
  EXPECT_EQ(consumer->error_code.load(), -1);

  // A trickle below the rate is cut at request_timeout as before.
  RawClient slow(port());
  ASSERT_TRUE(slow.Send("PUT /t HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"));
  const auto start = Clock::now();
  for (int i = 0; i < 40 && Clock::now() - start < 2s; ++i) {
    if (!slow.Send("x")) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(slow.WaitForEof(kWait));
  EXPECT_EQ(RawClient::StatusOf(slow.buffer()), 408) << slow.buffer();
}

TEST_F(HttpServerLimitsTest, AnAnswerLeavingALargeBodyUnreadSaysConnectionClose) {
  // A handler that answers without reading a 50 MB body (an error, a refusal): the server
  // will close rather than drain it, and says so in the head, so the client stops sending
  // and reads the answer instead of meeting a reset.
  Start(Ok);
  RawClient raw(port());
  ASSERT_TRUE(raw.Send("PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: 52428800\r\n\r\n" +
                       std::string(64 * 1024, 'b')));
  const std::string response = raw.ReadResponse(kWait);
  EXPECT_EQ(RawClient::StatusOf(response), 200) << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;

  // A small unread body is drained instead: the connection is kept, and says nothing.
  RawClient small(port());
  ASSERT_TRUE(small.Send("PUT /s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"));
  const std::string kept = small.ReadResponse(kWait);
  EXPECT_EQ(RawClient::StatusOf(kept), 200) << kept;
  EXPECT_EQ(kept.find("Connection: close"), std::string::npos) << kept;
}

TEST_F(HttpServerLimitsTest, StalledHeadGets408) {
  ServerOptions options;
  options.request_timeout = 300ms;
  Start(Ok, options);
  std::string response = AnswerAndClose("GET / HTTP/1.1\r\nHost: x");
  EXPECT_EQ(RawClient::StatusOf(response), 408) << response;
}

TEST_F(HttpServerLimitsTest, ATrickledHeadGets408AfterTheHeadTimeout) {
  // A byte every 100 ms keeps the connection from idling, but the head must be in within
  // head_timeout, however long request_timeout (which also covers the body) is.
  ServerOptions options;
  options.head_timeout = 400ms;
  options.request_timeout = std::chrono::minutes(5);
  Start(Ok, options);
  RawClient raw(port());
  const std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa";
  const auto start = Clock::now();
  for (char c : head) {
    if (!raw.Send(std::string(1, c)) || raw.eof()) break;
    raw.ReceiveFor(100ms);
    if (!raw.buffer().empty()) break;
  }
  EXPECT_EQ(RawClient::StatusOf(raw.buffer()), 408) << raw.buffer();
  EXPECT_LT(Clock::now() - start, 3s);
}

TEST_F(HttpServerLimitsTest, IdleConnectionIsClosedSilently) {
  ServerOptions options;
  options.idle_timeout = 300ms;
  Start(Ok, options);
  RawClient raw(port());
  ASSERT_TRUE(raw.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(RawClient::StatusOf(raw.ReadResponse(kWait)), 200);
  auto start = Clock::now();
  EXPECT_TRUE(raw.WaitForEof(kWait));
  EXPECT_GE(Clock::now() - start, 200ms);
  EXPECT_EQ(raw.buffer(), "");
}

TEST_F(HttpServerLimitsTest, ClientGoneMidResponseFailsWriteAndServerSurvives) {
  std::atomic<int> write_error{-1};
  Start([&](const HttpRequest& req, BodyReader& body, ResponseWriter& w) {
    if (req.path != "/huge") return Ok(req, body, w);
    w.SetStatus(200);
    w.SetHeader("Content-Length", std::to_string(1ULL << 30));
    std::string mib(1 << 20, 'z');
    for (int i = 0; i < 1024; ++i) {
      Status s = w.Write(mib);
      if (!s.ok()) {
        write_error = static_cast<int>(s.code());
        return;
      }
    }
  });
  {
    RawClient raw(port());
    ASSERT_TRUE(raw.Send("GET /huge HTTP/1.1\r\nHost: x\r\n\r\n"));
    raw.ReceiveUntil(kWait, [&] { return raw.buffer().size() > (2 << 20); });
  }  // closes with unread data: the server's next writes fail
  ASSERT_TRUE(Eventually([&] { return write_error.load() != -1; }));
  EXPECT_EQ(write_error.load(), static_cast<int>(StatusCode::kUnavailable));
  RawClient next(port());
  ASSERT_TRUE(next.Send("GET /small HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(RawClient::StatusOf(next.ReadResponse(kWait)), 200);
}

TEST_F(HttpServerLimitsTest, StopLetsInFlightHandlerFinish) {
  std::atomic<bool> started{false};
  Start([&](const HttpRequest&, BodyReader&, ResponseWriter& w) {
    started = true;
    std::this_thread::sleep_for(400ms);
    (void)w.Send(200, "text/plain", "finished");
  });
  RawClient idle(port());  // between requests: closed at once by Stop
  RawClient busy(port());
  ASSERT_TRUE(busy.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(Eventually([&] { return started.load(); }));
  auto start = Clock::now();
  server_->Stop(5s);
  EXPECT_LT(Clock::now() - start, 3s);
  std::string response = busy.ReadResponse(kWait);
  EXPECT_EQ(RawClient::StatusOf(response), 200) << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos);
  EXPECT_NE(response.find("finished"), std::string::npos);
  EXPECT_TRUE(idle.WaitForEof(kWait));
  EXPECT_EQ(server_->GetStats().connections_open, 0u);
  server_->Stop();  // twice is fine
}

TEST_F(HttpServerLimitsTest, StopCutsHandlerBlockedPastGrace) {
  auto consumer = std::make_shared<BodyConsumer>();
  Start([consumer](auto& r, auto& b, auto& w) { (*consumer)(r, b, w); });
  RawClient raw(port());
  ASSERT_TRUE(raw.Send("PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"));
  ASSERT_TRUE(Eventually([&] { return consumer->calls.load() == 1; }));
  auto start = Clock::now();
  server_->Stop(200ms);
  EXPECT_LT(Clock::now() - start, 3s);
  EXPECT_NE(consumer->error_code.load(), -1);
  EXPECT_TRUE(raw.WaitForEof(kWait));
}

TEST_F(HttpServerLimitsTest, StartFailsOnBusyPort) {
  Start(Ok);
  ServerOptions options;
  options.listen = "127.0.0.1:" + std::to_string(port());
  HttpServer second(options, Ok);
  Status s = second.Start();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
}

TEST(ServerOptionsTest, ValidateRejectsBadValues) {
  ServerOptions options;
  EXPECT_TRUE(options.Validate().ok());
  options.listen = "no-port";
  EXPECT_FALSE(options.Validate().ok());
  options = {};
  options.io_threads = 0;
  EXPECT_FALSE(options.Validate().ok());
  options = {};
  options.listen = "[::1]:0";
  EXPECT_TRUE(options.Validate().ok());
}

}  // namespace
}  // namespace sluice::net
