// CurlClient: pooled handles under concurrency, retry policy, and the small codecs.
#include "ufs/curl_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "ufs/testing_http_server.h"

namespace sluice::ufs {
namespace {

using testing::TestHttpRequest;
using testing::TestHttpResponse;
using testing::TestHttpServer;

HttpRequest Request(std::string method, std::string url) {
  HttpRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  return r;
}

TEST(CurlClientTest, ServesConcurrentRequestsFromAPool) {
  TestHttpServer server([](const TestHttpRequest& r) {
    TestHttpResponse resp = TestHttpResponse::Make(200, r.body);
    resp.headers.emplace_back("X-Echo", r.method);
    return resp;
  });
  ASSERT_TRUE(server.ok());
  CurlClientOptions o;
  o.max_pooled_handles = 4;
  CurlClient client(o);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::string body = "payload " + std::to_string(t * 100 + i);
        HttpRequest req;
        req.method = i % 2 ? "PUT" : "POST";
        req.url = server.url() + "/x";
        req.body = body;
        auto r = client.Perform(req);
        if (r.ok() && r->status == 200 && r->body == body && r->Header("x-echo") == req.method) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
  EXPECT_LE(client.PooledHandles(), 4u);
  EXPECT_GE(client.PooledHandles(), 1u);
  EXPECT_EQ(client.Retries(), 0u);
}

TEST(CurlClientTest, RetriesThrottlingButNotClientErrors) {
  std::atomic<int> calls{0};
  TestHttpServer server([&](const TestHttpRequest& r) {
    int n = ++calls;
    if (r.target == "/throttle" && n == 1) return TestHttpResponse::Make(429);
    if (r.target == "/missing") return TestHttpResponse::Make(404);
    return TestHttpResponse::Make(204);
  });
  CurlClientOptions o;
  o.retry_base_delay = std::chrono::milliseconds(1);
  CurlClient client(o);
  auto r = client.Perform(Request("DELETE", server.url() + "/throttle"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(client.Retries(), 1u);
  r = client.Perform(Request("GET", server.url() + "/missing"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(client.Retries(), 1u);
}

TEST(CurlClientTest, MapsStatusesAndEncodes) {
  EXPECT_EQ(HttpError(404, "GET k").code(), StatusCode::kNotFound);
  EXPECT_EQ(HttpError(403, "GET k").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(HttpError(412, "GET k").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(HttpError(503, "GET k").code(), StatusCode::kUnavailable);
  EXPECT_EQ(HttpError(500, "GET k", "InternalError").message(), "GET k: HTTP 500: InternalError");
  EXPECT_EQ(UriEncode("a b/c~d+é", true), "a%20b/c~d%2B%C3%A9");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UriDecode("a%20b%2fc%zz"), "a b/c%zz");
  EXPECT_EQ(Unquote("\"abc\""), "abc");
  EXPECT_EQ(Unquote("abc"), "abc");
  EXPECT_EQ(ParseHttpDateNs("Tue, 02 Jan 2024 03:04:05 GMT"), 1704164645LL * 1'000'000'000);
  EXPECT_EQ(ParseIso8601Ns("2024-01-02T03:04:05.250Z"), 1704164645250LL * 1'000'000);
  EXPECT_EQ(ParseIso8601Ns("garbage"), 0);
}

}  // namespace
}  // namespace sluice::ufs
