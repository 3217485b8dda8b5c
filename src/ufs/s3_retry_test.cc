// S3Store retry and error mapping against an in-test HTTP server that injects 503s,
// throttling, delays and error statuses (no s3rver needed).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "ufs/factory.h"
#include "ufs/testing_http_server.h"

namespace sluice::ufs {
namespace {

using testing::TestHttpRequest;
using testing::TestHttpResponse;
using testing::TestHttpServer;

constexpr char kSlowDown[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
    "<Message>Please reduce your request rate.</Message></Error>";

// An object "bkt/obj" of 5 bytes, answered after `failures` 503 SlowDown responses.
TestHttpResponse FlakyObject(const TestHttpRequest& req, std::atomic<int>* failures) {
  TestHttpResponse resp;
  if (failures->fetch_sub(1) > 0) {
    resp.status = 503;
    resp.body = kSlowDown;
    return resp;
  }
  if (req.target != "/bkt/obj") {
    resp.status = 404;
    resp.body = "<Error><Code>NoSuchKey</Code></Error>";
    return resp;
  }
  resp.headers = {{"ETag", "\"abc\""}, {"Last-Modified", "Tue, 02 Jan 2024 03:04:05 GMT"}};
  if (req.Header("range") == "bytes=1-3") {
    resp.status = 206;
    resp.headers.emplace_back("Content-Range", "bytes 1-3/5");
    resp.body = "ell";
  } else {
    resp.body = "hello";
  }
  return resp;
}

class S3StoreRetryTest : public ::testing::Test {
 protected:
  std::unique_ptr<UnderStore> Open(const TestHttpServer& server, S3Options o = {}) {
    o.access_key = "AK";
    o.secret_key = "SK";
    o.retry_base_delay = std::chrono::milliseconds(1);
    auto s = OpenS3Store(fmt::format("s3://bkt?endpoint={}", server.url()), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
};

TEST_F(S3StoreRetryTest, RetriesServerErrorsThenSucceeds) {
  std::atomic<int> failures{2};
  std::mutex mu;
  std::string last_auth;  // GUARDED_BY(mu)
  TestHttpServer server([&](const TestHttpRequest& r) {
    std::lock_guard lock(mu);
    last_auth = r.Header("authorization");
    return FlakyObject(r, &failures);
  });
  ASSERT_TRUE(server.ok());
  auto store = Open(server);
  auto info = store->Stat("obj");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, 5u);
  EXPECT_EQ(info->etag, "abc");
  EXPECT_EQ(info->mtime_ns, 1704164645LL * 1'000'000'000);
  EXPECT_EQ(store->GetStats().retries, 2u);
  EXPECT_EQ(server.requests(), 3);
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(last_auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/")) << last_auth;
    EXPECT_NE(last_auth.find("/us-east-1/s3/aws4_request"), std::string::npos) << last_auth;
    EXPECT_NE(last_auth.find("x-amz-content-sha256"), std::string::npos) << last_auth;
  }

  failures = 3;
  auto data = store->Read("obj", 1, 3, "abc");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, "ell");
  EXPECT_EQ(store->GetStats().retries, 5u);
  EXPECT_EQ(store->GetStats().errors, 0u);
}

TEST_F(S3StoreRetryTest, ReportsServerErrorsAfterRetries) {
  std::atomic<int> failures{1000};
  TestHttpServer server([&](const TestHttpRequest& r) { return FlakyObject(r, &failures); });
  ASSERT_TRUE(server.ok());
  S3Options o;
  o.max_retries = 2;
  auto store = Open(server, o);
  auto r = store->Read("obj", 0, 5);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->GetStats().retries, 2u);
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(store->GetStats().errors, 1u);
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("GET"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'obj'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("503"), std::string::npos) << msg;
  EXPECT_NE(msg.find("SlowDown"), std::string::npos) << msg;
}

TEST_F(S3StoreRetryTest, RetriesTimeoutsThenReports) {
  TestHttpServer server([](const TestHttpRequest&) {
    TestHttpResponse resp;
    resp.delay = std::chrono::milliseconds(3000);
    return resp;
  });
  ASSERT_TRUE(server.ok());
  S3Options o;
  o.max_retries = 2;
  o.request_timeout = std::chrono::milliseconds(300);
  auto store = Open(server, o);
  auto start = std::chrono::steady_clock::now();
  auto r = store->Stat("obj");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_EQ(store->GetStats().retries, 2u);
  EXPECT_EQ(server.requests(), 3);
  EXPECT_LT(took, std::chrono::milliseconds(2500));
}

TEST_F(S3StoreRetryTest, RetriesConnectionErrorsThenReportsUnavailable) {
  int port;
  {
    TestHttpServer server([](const TestHttpRequest&) { return TestHttpResponse{}; });
    port = server.port();
  }  // closed: connections to the port are refused
  S3Options o;
  o.access_key = "AK";
  o.secret_key = "SK";
  o.max_retries = 3;
  o.retry_base_delay = std::chrono::milliseconds(1);
  auto store = OpenS3Store(fmt::format("s3://bkt?endpoint=http://127.0.0.1:{}", port), o);
  ASSERT_TRUE(store.ok());
  auto r = (*store)->Stat("obj");
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_EQ((*store)->GetStats().retries, 3u);
}

TEST_F(S3StoreRetryTest, MapsClientErrorsWithoutRetrying) {
  std::atomic<int> status{404};
  TestHttpServer server([&](const TestHttpRequest&) {
    TestHttpResponse resp;
    resp.status = status;
    if (status == 403) resp.body = "<Error><Code>AccessDenied</Code><Message>no</Message></Error>";
    return resp;
  });
  ASSERT_TRUE(server.ok());
  auto store = Open(server);
  EXPECT_EQ(store->Read("obj", 0, 1).status().code(), StatusCode::kNotFound);
  status = 403;
  auto denied = store->Read("obj", 0, 1);
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(denied.status().message().find("AccessDenied"), std::string::npos);
  status = 412;
  EXPECT_EQ(store->Read("obj", 0, 1, "v1").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->GetStats().retries, 0u);
  EXPECT_EQ(server.requests(), 3);
}

// 501 is an answer (asked again, it is given again): not retried, kUnimplemented. S3's
// 400 RequestTimeout is the store giving up on a slow request: retried.
TEST_F(S3StoreRetryTest, NotImplementedIsFinalAndRequestTimeoutIsRetried) {
  std::atomic<int> status{501};
  std::atomic<int> timeouts{1};
  TestHttpServer server([&](const TestHttpRequest& r) {
    TestHttpResponse resp;
    if (status == 400 && timeouts.fetch_sub(1) > 0) {
      resp.status = 400;
      resp.body = "<Error><Code>RequestTimeout</Code><Message>too slow</Message></Error>";
      return resp;
    }
    if (status == 400) {
      std::atomic<int> none{0};
      return FlakyObject(r, &none);
    }
    resp.status = status;
    resp.body = "<Error><Code>NotImplemented</Code></Error>";
    return resp;
  });
  ASSERT_TRUE(server.ok());
  auto store = Open(server);
  EXPECT_EQ(store->Read("obj", 0, 5).status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(store->GetStats().retries, 0u);
  status = 400;
  auto data = store->Read("obj", 0, 5);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, "hello");
  EXPECT_EQ(store->GetStats().retries, 1u);
}

// CompleteMultipartUpload answered 200 with an <Error> it asks to retry: retried, and the
// upload is completed, not aborted.
TEST_F(S3StoreRetryTest, CompleteAnsweredWithARetryableErrorIsRetried) {
  std::atomic<int> complete_errors{1};
  std::atomic<int> deletes{0};
  std::atomic<int> completes{0};
  TestHttpServer server([&](const TestHttpRequest& r) {
    TestHttpResponse resp;
    if (r.method == "POST" && r.target.find("?uploads") != std::string::npos) {
      resp.body = "<InitiateMultipartUploadResult><UploadId>u1</UploadId>"
                  "</InitiateMultipartUploadResult>";
    } else if (r.method == "PUT") {
      resp.headers = {{"ETag", "\"0123456789abcdef0123456789abcdef\""}};
    } else if (r.method == "POST") {
      completes++;
      resp.body = complete_errors.fetch_sub(1) > 0
                      ? "<Error><Code>InternalError</Code><Message>retry</Message></Error>"
                      : "<CompleteMultipartUploadResult><ETag>\"abc-2\"</ETag>"
                        "</CompleteMultipartUploadResult>";
    } else if (r.method == "DELETE") {
      deletes++;
      resp.status = 204;
    }
    return resp;
  });
  ASSERT_TRUE(server.ok());
  S3Options o;
  o.part_size = 5 * kMiB;
  o.multipart_threshold = 5 * kMiB;
  auto store = Open(server, o);
  auto w = store->OpenWrite("big");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(std::string(6 * kMiB, 'x')).ok());
  auto info = (*w)->Close();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->etag, "abc-2");
  EXPECT_EQ(completes.load(), 2);
  EXPECT_EQ(deletes.load(), 0);
}

TEST_F(S3StoreRetryTest, ChecksTheResponseETagWhenIfMatchIsIgnored) {
  std::atomic<int> failures{0};
  std::mutex mu;
  std::string if_match;  // GUARDED_BY(mu)
  TestHttpServer server([&](const TestHttpRequest& r) {
    std::lock_guard lock(mu);
    if_match = r.Header("if-match");
    return FlakyObject(r, &failures);  // ignores If-Match, like s3rver
  });
  ASSERT_TRUE(server.ok());
  auto store = Open(server);
  EXPECT_EQ(store->Read("obj", 1, 3, "older").status().code(), StatusCode::kFailedPrecondition);
  std::lock_guard lock(mu);
  EXPECT_EQ(if_match, "\"older\"");
}

}  // namespace
}  // namespace sluice::ufs
