// Credentials that expire: refresh rules with a fake clock, and the instance metadata,
// container and STS web identity sources against a local HTTP server standing in for them.
#include "ufs/aws_credentials.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <future>
#include <thread>

#include "ufs/curl_client.h"
#include "ufs/testing_env.h"
#include "ufs/testing_http_server.h"

namespace sluice::ufs {
namespace {

using testing::TestHttpRequest;
using testing::TestHttpResponse;
using testing::TestHttpServer;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kNow = 1'790'000'000 * kSecond;  // 2026-09-21T14:13:20Z

std::string CredsJson(const std::string& key, const std::string& expiration) {
  return R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":")" + key +
         R"(","SecretAccessKey":"secret-)" + key + R"(","Token":"token-)" + key +
         R"(","Expiration":")" + expiration + R"("})";
}

struct FakeWall {
  std::atomic<int64_t> now{kNow};
  WallClock clock() {
    return [this] { return now.load(); };
  }
};

TEST(RefreshingProviderTest, FetchesOnFirstUseAndAgainBeforeExpiry) {
  FakeWall wall;
  int fetches = 0;
  RefreshingProvider p(
      "test",
      [&]() -> Result<AwsCredentials> {
        ++fetches;
        return AwsCredentials{"k" + std::to_string(fetches), "s", "t", wall.now + 3600 * kSecond};
      },
      wall.clock());
  EXPECT_EQ(fetches, 0);  // nothing at construction
  auto c = p.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "k1");
  wall.now += 3000 * kSecond;  // 10 minutes left: still used
  EXPECT_EQ(p.Get()->access_key, "k1");
  EXPECT_EQ(fetches, 1);
  wall.now += 400 * kSecond;  // 3m20s left: inside the refresh window
  EXPECT_EQ(p.Get()->access_key, "k2");
  EXPECT_EQ(fetches, 2);
}

TEST(RefreshingProviderTest, FailedRefreshKeepsValidCredentialsAndBacksOff) {
  FakeWall wall;
  int fetches = 0;
  bool fail = false;
  RefreshingProvider p(
      "test source",
      [&]() -> Result<AwsCredentials> {
        ++fetches;
        if (fail) return Status::Unavailable("endpoint down");
        return AwsCredentials{"k", "s", "t", kNow + 600 * kSecond};
      },
      wall.clock());
  ASSERT_TRUE(p.Get().ok());
  fail = true;
  wall.now += 400 * kSecond;  // in the refresh window, 200 s left
  auto c = p.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "k");  // the old ones, still valid
  EXPECT_EQ(fetches, 2);
  wall.now += 1 * kSecond;
  ASSERT_TRUE(p.Get().ok());
  EXPECT_EQ(fetches, 2) << "no new attempt within the back-off";
  wall.now += 5 * kSecond;
  ASSERT_TRUE(p.Get().ok());
  EXPECT_EQ(fetches, 3);
  wall.now += 200 * kSecond;  // expired, the source still down
  c = p.Get();
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(c.status().message().find("test source"), std::string::npos) << c.status().ToString();
  EXPECT_NE(c.status().message().find("endpoint down"), std::string::npos);
  fail = false;
  wall.now += 5 * kSecond;
  EXPECT_TRUE(p.Get().ok());  // back
}

TEST(RefreshingProviderTest, ASlowRefreshDoesNotHoldUpCallersWhileTheOldOnesAreValid) {
  FakeWall wall;
  std::atomic<int> fetches{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  RefreshingProvider p(
      "slow",
      [&]() -> Result<AwsCredentials> {
        if (++fetches > 1) released.wait();  // the endpoint hangs until the test lets it go
        return AwsCredentials{"k" + std::to_string(fetches.load()), "s", "", kNow + 600 * kSecond};
      },
      wall.clock());
  ASSERT_TRUE(p.Get().ok());
  wall.now += 400 * kSecond;  // in the refresh window, still valid
  std::thread refresher([&] { EXPECT_EQ(p.Get()->access_key, "k2"); });
  while (fetches.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Another request while that fetch hangs: it gets the valid credentials, not a wait.
  auto other = std::async(std::launch::async, [&] { return p.Get(); });
  const bool answered = other.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  release.set_value();
  refresher.join();
  ASSERT_TRUE(answered) << "a caller waited for another caller's refresh";
  auto c = other.get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "k1");
  EXPECT_EQ(fetches.load(), 2);
}

TEST(CredentialParsingTest, JsonAndStsAnswers) {
  auto c = ParseCredentialsJson(CredsJson("A", "2026-11-25T20:00:00Z"), "x");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "A");
  EXPECT_EQ(c->secret_key, "secret-A");
  EXPECT_EQ(c->session_token, "token-A");
  EXPECT_EQ(c->expires_ns, ParseIso8601Ns("2026-11-25T20:00:00Z"));
  EXPECT_FALSE(ParseCredentialsJson("<html>", "x").ok());
  EXPECT_FALSE(ParseCredentialsJson(R"({"Code":"Failure","Message":"no"})", "x").ok());
  EXPECT_FALSE(ParseCredentialsJson(R"({"AccessKeyId":"A"})", "x").ok());
  EXPECT_FALSE(ParseCredentialsJson(CredsJson("A", "tomorrow"), "x").ok());

  const std::string sts =
      "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
      "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA1</AccessKeyId>"
      "<SecretAccessKey>sk</SecretAccessKey><SessionToken>st</SessionToken>"
      "<Expiration>2026-11-25T21:00:00Z</Expiration></Credentials>"
      "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
  auto s = ParseAssumeRoleResponse(sts);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->access_key, "ASIA1");
  EXPECT_EQ(s->session_token, "st");
  EXPECT_EQ(s->expires_ns, ParseIso8601Ns("2026-11-25T21:00:00Z"));
  EXPECT_FALSE(ParseAssumeRoleResponse("<ErrorResponse/>").ok());
}

TEST(ImdsCredentialsTest, UsesASessionTokenAndTheRoleItNames) {
  std::atomic<int> creds_served{0};
  TestHttpServer imds([&](const TestHttpRequest& r) {
    if (r.method == "PUT" && r.target == "/latest/api/token") {
      if (r.Header("x-aws-ec2-metadata-token-ttl-seconds").empty()) {
        return TestHttpResponse::Make(400);
      }
      return TestHttpResponse::Make(200, "sess-token");
    }
    if (r.Header("x-aws-ec2-metadata-token") != "sess-token") return TestHttpResponse::Make(401);
    if (r.target == "/latest/meta-data/iam/security-credentials/") {
      return TestHttpResponse::Make(200, "gpu-node-role\n");
    }
    if (r.target == "/latest/meta-data/iam/security-credentials/gpu-node-role") {
      int n = ++creds_served;
      return TestHttpResponse::Make(200, CredsJson("IMDS" + std::to_string(n),
                                                   "2026-09-21T15:13:20Z"));  // kNow + 1 h
    }
    return TestHttpResponse::Make(404);
  });
  ASSERT_TRUE(imds.ok());
  FakeWall wall;
  auto p = ImdsCredentials({.endpoint = imds.url(), .optional = true}, wall.clock());
  auto c = p->Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "IMDS1");
  EXPECT_EQ(c->session_token, "token-IMDS1");
  wall.now += 3400 * kSecond;  // within 5 minutes of the Expiration
  EXPECT_EQ(p->Get()->access_key, "IMDS2");
}

TEST(ImdsCredentialsTest, FallsBackToV1WhenTheTokenIsRefused) {
  TestHttpServer imds([&](const TestHttpRequest& r) {
    if (r.method == "PUT") return TestHttpResponse::Make(403);
    if (!r.Header("x-aws-ec2-metadata-token").empty()) return TestHttpResponse::Make(400);
    if (r.target == "/latest/meta-data/iam/security-credentials/") {
      return TestHttpResponse::Make(200, "r1");
    }
    if (r.target == "/latest/meta-data/iam/security-credentials/r1") {
      return TestHttpResponse::Make(200, CredsJson("V1", "2026-09-21T15:13:20Z"));
    }
    return TestHttpResponse::Make(404);
  });
  ASSERT_TRUE(imds.ok());
  auto c = ImdsCredentials({.endpoint = imds.url()})->Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "V1");
}

TEST(ImdsCredentialsTest, NoServiceMeansUnsignedOnlyWhenAutoDetected) {
  std::string closed;
  {
    TestHttpServer gone([](const TestHttpRequest&) { return TestHttpResponse::Make(200); });
    ASSERT_TRUE(gone.ok());
    closed = gone.url();
  }  // nothing listens there now
  auto c = ImdsCredentials({.endpoint = closed, .optional = true})->Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->access_key.empty());  // sign nothing

  c = ImdsCredentials({.endpoint = closed, .optional = false})->Get();
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(c.status().message().find("instance metadata"), std::string::npos)
      << c.status().ToString();

  // An instance without a role: unsigned too.
  TestHttpServer no_role([](const TestHttpRequest& r) {
    return TestHttpResponse::Make(r.method == "PUT" ? 200 : 404, "t");
  });
  ASSERT_TRUE(no_role.ok());
  c = ImdsCredentials({.endpoint = no_role.url()})->Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->access_key.empty());
}

TEST(ContainerCredentialsTest, SendsTheTokenFromItsFileEachTime) {
  testing::TempDir dir;
  const std::string token_file = dir.path() + "/token";
  std::ofstream(token_file) << "Bearer one\n";
  std::atomic<int> n{0};
  TestHttpServer ecs([&](const TestHttpRequest& r) {
    if (r.target != "/v2/credentials/abc") return TestHttpResponse::Make(404);
    const std::string auth = r.Header("authorization");
    if (auth != "Bearer one" && auth != "Bearer two") return TestHttpResponse::Make(403);
    ++n;
    return TestHttpResponse::Make(200, CredsJson(auth.substr(7), "2026-09-21T15:13:20Z"));
  });
  ASSERT_TRUE(ecs.ok());
  FakeWall wall;
  auto p = ContainerCredentials(
      {.url = ecs.url() + "/v2/credentials/abc", .auth_token_file = token_file}, wall.clock());
  auto c = p->Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "one");
  std::ofstream(token_file) << "Bearer two";  // rotated
  wall.now += 3400 * kSecond;
  c = p->Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "two");
  EXPECT_EQ(n.load(), 2);

  auto bad = ContainerCredentials({.url = ecs.url() + "/v2/credentials/other"})->Get();
  EXPECT_EQ(bad.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(bad.status().message().find("HTTP 404"), std::string::npos) << bad.status().ToString();
}

TEST(WebIdentityCredentialsTest, AssumesTheRoleWithTheCurrentToken) {
  testing::TempDir dir;
  const std::string token_file = dir.path() + "/token";
  std::ofstream(token_file) << "jwt-1";
  std::string last_body;
  std::mutex mu;
  TestHttpServer sts([&](const TestHttpRequest& r) {
    std::lock_guard lock(mu);
    last_body = r.body;
    if (r.method != "POST" ||
        r.body.find("Action=AssumeRoleWithWebIdentity") == std::string::npos) {
      return TestHttpResponse::Make(400, "<ErrorResponse/>");
    }
    const bool second = r.body.find("WebIdentityToken=jwt-2") != std::string::npos;
    return TestHttpResponse::Make(
        200,
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
        "<AccessKeyId>" + std::string(second ? "W2" : "W1") + "</AccessKeyId>"
        "<SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>"
        "<Expiration>2026-09-21T15:13:20Z</Expiration></Credentials>"
        "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>");
  });
  ASSERT_TRUE(sts.ok());
  FakeWall wall;
  auto p = WebIdentityCredentials({.sts_endpoint = sts.url(),
                                   .role_arn = "arn:aws:iam::123:role/train",
                                   .token_file = token_file,
                                   .session_name = "s1"},
                                  wall.clock());
  auto c = p->Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "W1");
  {
    std::lock_guard lock(mu);
    EXPECT_NE(last_body.find("RoleArn=arn%3Aaws%3Aiam%3A%3A123%3Arole%2Ftrain"), std::string::npos)
        << last_body;
    EXPECT_NE(last_body.find("RoleSessionName=s1"), std::string::npos) << last_body;
  }
  std::ofstream(token_file) << "jwt-2";
  wall.now += 3400 * kSecond;
  EXPECT_EQ(p->Get()->access_key, "W2");

  auto missing = WebIdentityCredentials({.sts_endpoint = sts.url(),
                                         .role_arn = "r",
                                         .token_file = dir.path() + "/nope"})
                     ->Get();
  EXPECT_EQ(missing.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(missing.status().message().find("token file"), std::string::npos)
      << missing.status().ToString();
}

}  // namespace
}  // namespace sluice::ufs
