#include "placement/membership.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "common/logging.h"
#include "placement/etcd_client.h"
#include "placement/testing_etcd.h"

namespace sluice::placement {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

Member M(int port) {
  return {fmt::format("127.0.0.1:{}", port), fmt::format("http://127.0.0.1:{}", port)};
}

std::vector<std::string> Ids(const std::vector<Member>& members) {
  std::vector<std::string> ids;
  for (const Member& m : members) ids.push_back(m.id);
  return ids;
}

// Polls `done` every 20 ms until it holds or `timeout` passes; returns whether it held.
bool WaitFor(const std::function<bool()>& done, Duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// ParsePeers and StaticMembership

TEST(ParsePeersTest, ParsesHostPortList) {
  Result<std::vector<Member>> r = ParsePeers("10.0.0.2:7070,node-b.local:7071");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(*r, ElementsAre(Member{"10.0.0.2:7070", "http://10.0.0.2:7070"},
                              Member{"node-b.local:7071", "http://node-b.local:7071"}));
}

TEST(ParsePeersTest, AcceptsHttpPrefixesBlanksAndIpv6) {
  Result<std::vector<Member>> r = ParsePeers(" http://a:1/ , b:2,http://[::1]:3 ");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(*r, ElementsAre(Member{"a:1", "http://a:1"}, Member{"b:2", "http://b:2"},
                              Member{"[::1]:3", "http://[::1]:3"}));
}

TEST(ParsePeersTest, RejectsEmptyAndGarbage) {
  for (const char* spec : {"", "  ", "a:1,,b:2", "a:1,", "a", "a:", ":80", "a:0", "a:65536", "a:x1",
                           "https://a:1", "a:1/path", "::1:80", "a b:1", "[zz]:1"}) {
    Result<std::vector<Member>> r = ParsePeers(spec);
    ASSERT_FALSE(r.ok()) << "accepted \"" << spec << "\"";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << spec;
  }
  EXPECT_THAT(ParsePeers("a:1,,b:2").status().message(), HasSubstr("entry 2 is empty"));
  EXPECT_THAT(ParsePeers("a:1,b").status().message(), HasSubstr("\"b\": missing :port"));
}

TEST(ParsePeersTest, RejectsDuplicates) {
  Result<std::vector<Member>> r = ParsePeers("a:1,b:2,http://a:1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("a:1 is listed twice"));
}

TEST(StaticMembershipTest, ServesTheSortedListForever) {
  StaticMembership m(*ParsePeers("c:3,a:1,b:2"));
  ASSERT_TRUE(m.Start().ok());
  EXPECT_THAT(Ids(m.Members()), ElementsAre("a:1", "b:2", "c:3"));
  EXPECT_EQ(m.Generation(), 1u);
  EXPECT_EQ(m.Kind(), "static");
  m.Stop();
  EXPECT_EQ(m.Members().size(), 3u);
}

// ---------------------------------------------------------------------------------------
// EtcdMembership against a real etcd

constexpr Duration kLeaseTtl = seconds(2);  // etcd's minimum
constexpr Duration kRefresh = milliseconds(100);
// A join or a death shows within lease_ttl + refresh_interval; etcd checks expiry every
// 500 ms, so allow that and some scheduling noise.
constexpr Duration kWithinTtl = kLeaseTtl + kRefresh + milliseconds(1500);

// Captures what the process logs while a test runs (sinks are attached before any
// membership starts and removed after all are stopped).
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  // Lines at `level` that contain every one of `parts`.
  int Count(spdlog::level::level_enum level, std::initializer_list<std::string> parts) const {
    int n = 0;
    for (const auto& msg : sink_->last_raw()) {
      std::string text(msg.payload.data(), msg.payload.size());
      bool all = std::all_of(parts.begin(), parts.end(), [&](const std::string& p) {
        return text.find(p) != std::string::npos;
      });
      n += msg.level == level && all;
    }
    return n;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

class EtcdMembershipTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::EtcdProcess::Installed()) return;
    auto e = testing::EtcdProcess::Start();
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    etcd_ = std::move(e).value().release();
  }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
  }
  void SetUp() override {
    if (!testing::EtcdProcess::Installed()) GTEST_SKIP() << "/usr/bin/etcd is not installed";
    ASSERT_NE(etcd_, nullptr);
    // A cluster per test: tests share one etcd but not keys.
    cluster_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  EtcdOptions Options(std::optional<Member> self, std::string fingerprint = "fp-1") const {
    EtcdOptions o;
    o.url = etcd_->url();
    o.cluster = cluster_;
    o.self = std::move(self);
    o.fingerprint = std::move(fingerprint);
    o.lease_ttl = kLeaseTtl;
    o.refresh_interval = kRefresh;
    o.request_timeout = seconds(1);
    return o;
  }
  std::unique_ptr<EtcdMembership> Started(std::optional<Member> self,
                                          std::string fingerprint = "fp-1") const {
    auto m = std::make_unique<EtcdMembership>(Options(std::move(self), std::move(fingerprint)));
    Status st = m->Start();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return m;
  }
  std::string Key(const Member& m) const {
    return fmt::format("/sluice/{}/workers/{}", cluster_, m.id);
  }

  static testing::EtcdProcess* etcd_;
  std::string cluster_;
  LogCapture log_;
};

testing::EtcdProcess* EtcdMembershipTest::etcd_ = nullptr;

TEST_F(EtcdMembershipTest, WorkersSeeEachOtherAndClientsSeeThem) {
  auto a = Started(M(1));
  EXPECT_THAT(Ids(a->Members()), ElementsAre(M(1).id));
  EXPECT_EQ(a->Generation(), 1u);
  EXPECT_EQ(a->Kind(), "etcd");
  EXPECT_TRUE(a->Connected());

  auto b = Started(M(2));
  EXPECT_THAT(b->Members(), ElementsAre(M(1), M(2)));  // read after its own registration
  EXPECT_TRUE(WaitFor([&] { return a->Members().size() == 2; }, kLeaseTtl + kRefresh));
  EXPECT_THAT(a->Members(), ElementsAre(M(1), M(2)));
  EXPECT_EQ(a->Generation(), 2u);

  auto client = Started(std::nullopt);
  EXPECT_THAT(client->Members(), ElementsAre(M(1), M(2)));
  EXPECT_EQ(client->Generation(), 1u);
  EXPECT_TRUE(client->Mismatched().empty());
}

TEST_F(EtcdMembershipTest, StoppedMemberDisappears) {
  auto a = Started(M(1));
  auto b = Started(M(2));
  auto client = Started(std::nullopt);
  ASSERT_EQ(client->Members().size(), 2u);
  const auto stopped_at = Clock::now();
  b->Stop();  // revokes its lease: gone at the next refresh
  EXPECT_TRUE(WaitFor([&] { return client->Members().size() == 1; }, kWithinTtl));
  EXPECT_LT(Clock::now() - stopped_at, kLeaseTtl);
  EXPECT_THAT(client->Members(), ElementsAre(M(1)));
  EXPECT_TRUE(WaitFor([&] { return a->Members().size() == 1; }, kRefresh * 5));
  b->Stop();  // idempotent
}

TEST_F(EtcdMembershipTest, DeadMemberExpiresWithItsLease) {
  // A member that died without revoking: registered once, never kept alive.
  auto etcd = EtcdClient::Create(etcd_->url(), seconds(1));
  ASSERT_TRUE(etcd.ok());
  Result<int64_t> lease = (*etcd)->Grant(kLeaseTtl);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  const std::string value =
      fmt::format(R"({{"id":"{}","endpoint":"{}","fingerprint":"fp-1"}})", M(9).id, M(9).endpoint);
  ASSERT_TRUE((*etcd)->Put(Key(M(9)), value, *lease).ok());

  auto a = Started(M(1));
  EXPECT_THAT(a->Members(), ElementsAre(M(1), M(9)));
  EXPECT_TRUE(WaitFor([&] { return a->Members().size() == 1; }, kWithinTtl));
  EXPECT_THAT(a->Members(), ElementsAre(M(1)));
  EXPECT_EQ(a->Generation(), 2u);
  EXPECT_TRUE(a->Connected());

  // a's first lease was granted with M(9)'s: only its keep-alives hold it now.
  std::this_thread::sleep_for(seconds(1));
  auto client = Started(std::nullopt);
  EXPECT_THAT(client->Members(), ElementsAre(M(1)));
}

TEST_F(EtcdMembershipTest, ReplacesALeaseRevokedBehindItsBack) {
  auto a = Started(M(1));
  auto etcd = EtcdClient::Create(etcd_->url(), seconds(1));
  ASSERT_TRUE(etcd.ok());
  auto kvs = (*etcd)->Range(Key(M(1)));
  ASSERT_TRUE(kvs.ok());
  ASSERT_EQ(kvs->size(), 1u);
  const int64_t old_lease = kvs->front().lease;
  ASSERT_TRUE((*etcd)->Revoke(old_lease).ok());  // as if the lease had expired

  EXPECT_TRUE(WaitFor(
      [&] {
        auto now = (*etcd)->Range(Key(M(1)));
        return now.ok() && now->size() == 1 && now->front().lease != old_lease;
      },
      kLeaseTtl));
  EXPECT_TRUE(WaitFor([&] { return a->Members().size() == 1; }, kLeaseTtl));
  auto client = Started(std::nullopt);
  EXPECT_THAT(client->Members(), ElementsAre(M(1)));
}

TEST_F(EtcdMembershipTest, MismatchedFingerprintIsExcludedAndReported) {
  auto a = Started(M(1), "aaaa");
  auto b = Started(M(2), "bbbb");
  EXPECT_THAT(b->Members(), ElementsAre(M(2)));
  EXPECT_THAT(b->Mismatched(), ElementsAre(M(1).id));
  EXPECT_TRUE(WaitFor([&] { return !a->Mismatched().empty(); }, kLeaseTtl + kRefresh));
  EXPECT_THAT(a->Mismatched(), ElementsAre(M(2).id));
  EXPECT_THAT(a->Members(), ElementsAre(M(1)));

  auto same_as_a = Started(std::nullopt, "aaaa");
  EXPECT_THAT(same_as_a->Members(), ElementsAre(M(1)));
  auto no_fingerprint = Started(std::nullopt, "");  // checks nothing
  EXPECT_THAT(no_fingerprint->Members(), ElementsAre(M(1), M(2)));
  EXPECT_TRUE(no_fingerprint->Mismatched().empty());

  std::this_thread::sleep_for(kRefresh * 5);  // several refreshes: still logged once
  EXPECT_EQ(log_.Count(spdlog::level::err, {"member 127.0.0.1:2", "bbbb", "aaaa"}), 2)
      << "once by a, once by same_as_a";
  EXPECT_EQ(log_.Count(spdlog::level::err, {"member 127.0.0.1:1", "aaaa", "bbbb"}), 1);
}

// A client (no ring settings of its own) finds the settings most members have, and the
// members with given settings.
TEST_F(EtcdMembershipTest, ClientsFindTheCommonSettingsAndTheirMembers) {
  auto a = Started(M(1), "aaaa");
  auto b = Started(M(2), "bbbb");
  auto c = Started(M(3), "bbbb");
  auto client = Started(std::nullopt, "");
  EXPECT_THAT(client->Members(), ElementsAre(M(1), M(2), M(3)));
  EXPECT_EQ(client->CommonFingerprint(), "bbbb");
  EXPECT_THAT(client->MembersWith("bbbb"), ElementsAre(M(2), M(3)));
  EXPECT_THAT(client->MembersWith("aaaa"), ElementsAre(M(1)));
}

// A key with no id (the prefix itself) is malformed: ignored, and it does not stop later
// members from being seen.
TEST_F(EtcdMembershipTest, AKeyWithoutAnIdIsIgnored) {
  auto etcd = EtcdClient::Create(etcd_->url(), seconds(1));
  ASSERT_TRUE(etcd.ok());
  ASSERT_TRUE((*etcd)->Put(fmt::format("/sluice/{}/workers/", cluster_),
                           R"({"endpoint":"http://127.0.0.1:9"})", 0).ok());
  auto a = Started(M(1));
  auto b = Started(M(2));
  EXPECT_TRUE(WaitFor([&] { return a->Members().size() == 2; }, kRefresh * 5));
  EXPECT_THAT(a->Members(), ElementsAre(M(1), M(2)));
}

TEST_F(EtcdMembershipTest, StartFailsAgainstADeadUrl) {
  const std::string url = "http://127.0.0.1:1";  // nothing listens there
  EtcdOptions o = Options(M(1));
  o.url = url;
  EtcdMembership m(o);
  const auto start = Clock::now();
  Status st = m.Start();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr(url));
  EXPECT_LT(Clock::now() - start, seconds(2));
  EXPECT_FALSE(m.Connected());
  EXPECT_TRUE(m.Members().empty());
}

TEST_F(EtcdMembershipTest, TriesUrlsInTurn) {
  EtcdOptions o = Options(M(1));
  o.url = "http://127.0.0.1:1," + etcd_->url();
  EtcdMembership m(o);
  ASSERT_TRUE(m.Start().ok());
  EXPECT_THAT(m.Members(), ElementsAre(M(1)));
}

TEST_F(EtcdMembershipTest, RejectsBadOptions) {
  EtcdOptions o = Options(M(1));
  o.cluster = "a/b";
  EXPECT_EQ(EtcdMembership(o).Start().code(), StatusCode::kInvalidArgument);
  o = Options(M(1));
  o.lease_ttl = milliseconds(500);
  EXPECT_EQ(EtcdMembership(o).Start().code(), StatusCode::kInvalidArgument);
  o = Options(Member{"", "http://x:1"});
  EXPECT_EQ(EtcdMembership(o).Start().code(), StatusCode::kInvalidArgument);
  o = Options(std::nullopt);
  o.url = "ftp://127.0.0.1:1";
  EXPECT_EQ(EtcdMembership(o).Start().code(), StatusCode::kInvalidArgument);
}

// An outage needs an etcd of its own: it is killed and restarted.
TEST_F(EtcdMembershipTest, SurvivesAnEtcdOutageAndReregisters) {
  auto own = testing::EtcdProcess::Start();
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  testing::EtcdProcess& etcd = **own;
  auto options = [&](std::optional<Member> self) {
    EtcdOptions o = Options(std::move(self));
    o.url = etcd.url();
    return o;
  };
  EtcdMembership a(options(M(1))), b(options(M(2))), client(options(std::nullopt));
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return a.Members().size() == 2; }, kLeaseTtl));
  const uint64_t generation = client.Generation();

  etcd.Kill();
  EXPECT_TRUE(WaitFor([&] { return !a.Connected() && !client.Connected(); }, seconds(1)));
  std::this_thread::sleep_for(kLeaseTtl + milliseconds(500));  // longer than a lease
  EXPECT_THAT(a.Members(), ElementsAre(M(1), M(2)));           // the last known list stays
  EXPECT_THAT(client.Members(), ElementsAre(M(1), M(2)));
  EXPECT_EQ(client.Generation(), generation);
  b.Stop();  // its revoke cannot reach etcd: b's key must expire with its lease later

  ASSERT_TRUE(etcd.Restart().ok());
  EXPECT_TRUE(WaitFor([&] { return a.Connected() && client.Connected(); }, seconds(2)));
  EtcdMembership fresh(options(std::nullopt));
  ASSERT_TRUE(fresh.Start().ok());
  EXPECT_THAT(Ids(fresh.Members()), Contains(M(1).id));
  EXPECT_TRUE(WaitFor([&] { return fresh.Members().size() == 1; }, kWithinTtl + seconds(1)));
  EXPECT_THAT(fresh.Members(), ElementsAre(M(1)));

  // One warning when etcd went away (a, b, client) and one note when it came back (a and
  // client; b had stopped), not a line per failed request.
  EXPECT_EQ(log_.Count(spdlog::level::warn, {etcd.url(), "is unreachable"}), 3);
  EXPECT_EQ(log_.Count(spdlog::level::info, {etcd.url(), "reachable again"}), 2);
  a.Stop();
  client.Stop();
  fresh.Stop();
}

}  // namespace
}  // namespace sluice::placement
