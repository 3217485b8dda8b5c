// sluice::Client when workers fail (testing_cluster.h): failover to the next owner, to
// the under store, a hung worker, a restarted one, cluster tokens and ring fingerprints.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "client/testing_cluster.h"
#include "sluice/client.h"
#include "ufs/curl_client.h"

namespace sluice {
namespace {

using client::testing::ClientTest;
using client::testing::ClientTokenTest;
using client::testing::FreePorts;
using client::testing::kBlock;
using client::testing::kWorkers;
using client::testing::RandomBytes;
using client::testing::SecondsSince;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST_F(ClientTest, FailsOverWhenAnOwnerStops) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  const int victim = OwnerOf("/data/small.txt");
  for (const auto& [path, bytes] : files_) {
    auto got = client->ReadAll(path);
    ASSERT_TRUE(got.ok()) << path << ": " << got.status().ToString();
  }
  workers_[victim]->Stop();

  for (const auto& [path, bytes] : files_) {
    auto got = client->ReadAll(path);
    ASSERT_TRUE(got.ok()) << path << ": " << got.status().ToString();
    EXPECT_TRUE(*got == bytes) << path;
  }
  auto st = client->Stat("/data/small.txt");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  auto w = client->Write("/data/new/after-stop.txt", "still writable");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_GT(client->Stats().failovers, 0u);
  EXPECT_EQ(client->Stats().ufs_fallbacks, 0u);

  // The stopped worker is reported, not an error.
  int reachable = 0;
  for (const auto& r : client->ClusterStatus()) reachable += r.reachable;
  EXPECT_EQ(reachable, kWorkers - 1);
}

TEST_F(ClientTest, FallsBackToTheUnderStoreWhenNoWorkerAnswers) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  for (auto& w : workers_) w->Stop();

  auto start = Clock::now();
  auto small = client->ReadAll("/data/small.txt");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(*small, "hello sluice");
  std::string range(2 * kBlock, '\0');
  auto n = client->Read(big_path_, kBlock / 2, std::span<char>(range.data(), range.size()));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_EQ(*n, range.size());
  EXPECT_TRUE(range == big_.substr(kBlock / 2, range.size()));
  auto reader = client->Open(big_path_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  n = (*reader)->ReadAt(4 * kMiB, std::span<char>(range.data(), 1000));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_TRUE(range.substr(0, 1000) == big_.substr(4 * kMiB, 1000));
  EXPECT_EQ(client->Stat("/data/missing").status().code(), StatusCode::kNotFound);
  EXPECT_LT(SecondsSince(start), 5.0);
  EXPECT_GT(client->Stats().ufs_fallbacks, 0u);
}

TEST_F(ClientTest, WithoutFallbackNoWorkerIsUnavailableNamingTheWorkersTried) {
  ClientOptions o = Options();
  o.ufs_fallback = false;
  auto client = Connect(o);
  ASSERT_NE(client, nullptr);
  for (auto& w : workers_) w->Stop();

  auto start = Clock::now();
  auto st = client->Stat("/data/small.txt");
  EXPECT_EQ(st.status().code(), StatusCode::kUnavailable) << st.status().ToString();
  for (const auto& id : ids_) {
    EXPECT_NE(st.status().message().find(id), std::string::npos) << st.status().ToString();
  }
  char buf[100];
  auto n = client->Read("/data/small.txt", 0, std::span<char>(buf, sizeof(buf)));
  EXPECT_EQ(n.status().code(), StatusCode::kUnavailable) << n.status().ToString();
  EXPECT_LT(SecondsSince(start), 2.0);
  EXPECT_EQ(client->Stats().ufs_fallbacks, 0u);
}

TEST_F(ClientTest, RestartedWorkerIsUsedAgainAfterDownTime) {
  ClientOptions o = Options();
  auto client = Connect(o);
  ASSERT_NE(client, nullptr);
  const int victim = OwnerOf("/data/small.txt");
  workers_[victim].reset();  // stopped and gone
  auto got = client->ReadAll("/data/small.txt");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const uint64_t failovers = client->Stats().failovers;
  EXPECT_GT(failovers, 0u);

  StartWorker(victim);  // a new worker on the same port
  ASSERT_NE(workers_[victim], nullptr);
  std::this_thread::sleep_for(o.down_time + milliseconds(100));
  for (int i = 0; i < 3; ++i) {
    got = client->ReadAll("/data/small.txt");
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, "hello sluice");
  }
  EXPECT_GT(CacheReads(victim), 0u) << "the restarted owner serves its objects again";
  EXPECT_EQ(client->Stats().failovers, failovers);
}

TEST_F(ClientTest, RequestWithAnotherRingFingerprintIsRefused) {
  const std::string mine = workers_[0]->cluster().fingerprint();
  ASSERT_EQ(mine.size(), 16u);
  std::string other = mine;
  other[0] = other[0] == '0' ? '1' : '0';
  ufs::CurlClientOptions co;
  co.max_retries = 0;
  ufs::CurlClient http(co);
  ufs::HttpRequest req;
  req.url = endpoints_[0] + "/v1/stat?path=/data/small.txt";
  req.headers = {"X-Sluice-Ring: " + other};
  auto resp = http.Perform(req);
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->status, 409);
  auto j = nlohmann::json::parse(resp->body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << resp->body;
  EXPECT_EQ(j["error"].value("code", ""), "RingMismatch");
  EXPECT_NE(j["error"].value("message", "").find(other), std::string::npos);

  req.headers = {"X-Sluice-Ring: " + mine};
  resp = http.Perform(req);
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->status, 200) << resp->body;
}

TEST_F(ClientTest, StreamedWriteFailsOverWhenItsOwnerIsDown) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  const int victim = OwnerOf("/data/small.txt");
  std::string path;
  for (int k = 0; path.empty(); ++k) {
    std::string p = fmt::format("/data/new/s{}", k);
    if (OwnerOf(p) == victim) path = p;
  }
  workers_[victim]->Stop();
  const std::string payload = RandomBytes(300'000, 5);
  size_t at = 0;
  auto w = client->Write(path, payload.size(), [&](std::span<char> out) -> Result<size_t> {
    size_t n = std::min(out.size(), payload.size() - at);
    std::memcpy(out.data(), payload.data() + at, n);
    at += n;
    return n;
  });
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto back = client->ReadAll(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == payload);
  EXPECT_GT(client->Stats().failovers, 0u);
}

// A worker that accepts connections but never answers: each request to it times out after
// request_timeout and moves on; afterwards it is skipped for down_time.
TEST_F(ClientTest, HungWorkerTimesOutAndFailsOver) {
  ClientOptions o = Options();
  o.request_timeout = milliseconds(300);
  auto client = Connect(o);
  ASSERT_NE(client, nullptr);
  const int victim = OwnerOf("/data/small.txt");
  workers_[victim].reset();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(ports_[victim]);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  ASSERT_EQ(::listen(fd, 64), 0);  // never accepted, never answered

  auto start = Clock::now();
  for (const auto& [path, bytes] : files_) {
    auto got = client->ReadAll(path);
    ASSERT_TRUE(got.ok()) << path << ": " << got.status().ToString();
    EXPECT_TRUE(*got == bytes) << path;
  }
  // One timeout per concurrent request that found it before it was marked down.
  EXPECT_LT(SecondsSince(start), 5.0);
  EXPECT_GT(client->Stats().failovers, 0u);
  EXPECT_EQ(client->Stats().ufs_fallbacks, 0u);

  // A streamed write to it gives up once no byte moves for request_timeout (the source
  // cannot be replayed, so it is not failed over once it started).
  std::this_thread::sleep_for(o.down_time);  // the hung worker is tried first again
  std::string path;
  for (int k = 0; path.empty(); ++k) {
    std::string p = fmt::format("/data/new/h{}", k);
    if (OwnerOf(p) == victim) path = p;
  }
  const std::string payload(16 * kMiB, 'x');  // more than the socket buffers hold
  size_t at = 0;
  start = Clock::now();
  auto w = client->Write(path, payload.size(), [&](std::span<char> out) -> Result<size_t> {
    size_t n = std::min(out.size(), payload.size() - at);
    std::memcpy(out.data(), payload.data() + at, n);
    at += n;
    return n;
  });
  EXPECT_EQ(w.status().code(), StatusCode::kDeadlineExceeded) << w.status().ToString();
  EXPECT_LT(SecondsSince(start), 3.0);

  // The same bytes from a buffer: streamed too (a stall, not the whole upload, is timed),
  // but they can be sent again, so the write moves on to the next owner and lands.
  std::this_thread::sleep_for(o.down_time);
  const uint64_t failovers = client->Stats().failovers;
  auto b = client->Write(path, std::string_view(payload));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->size, payload.size());
  EXPECT_GT(client->Stats().failovers, failovers);
  auto back = client->ReadAll(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == payload);

  // Bytes a Source can give again from the start (a staging file): the same.
  std::this_thread::sleep_for(o.down_time);
  int sources = 0;
  auto f = client->Write(path, payload.size(), std::function<Client::Source()>([&] {
                           ++sources;
                           auto at2 = std::make_shared<size_t>(0);
                           return [&, at2](std::span<char> out) -> Result<size_t> {
                             size_t n = std::min(out.size(), payload.size() - *at2);
                             std::memcpy(out.data(), payload.data() + *at2, n);
                             *at2 += n;
                             return n;
                           };
                         }));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(sources, 2);
  back = client->ReadAll(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == payload);

  // The call's deadline bounds the failover: once it passed, no next owner is tried.
  ClientOptions impatient = o;
  impatient.cluster = ids_[(victim + 1) % kWorkers];  // the hung one cannot give the view
  impatient.deadline = milliseconds(200);             // passes during the stall (300 ms)
  auto c2 = Connect(impatient);
  ASSERT_NE(c2, nullptr);
  auto d = c2->Write(path, std::string_view(payload));
  EXPECT_EQ(d.status().code(), StatusCode::kDeadlineExceeded) << d.status().ToString();
  EXPECT_EQ(c2->Stats().failovers, 0u);
  // A read whose owner hangs past the deadline: kDeadlineExceeded, and no under-store
  // read behind the caller's limit (it was kUnavailable, then a direct read).
  std::this_thread::sleep_for(o.down_time);  // the hung owner is asked first again
  auto rd = c2->ReadAll("/data/small.txt");
  EXPECT_EQ(rd.status().code(), StatusCode::kDeadlineExceeded) << rd.status().ToString();
  EXPECT_EQ(c2->Stats().ufs_fallbacks, 0u);
  ::close(fd);
}

TEST_F(ClientTokenTest, TokenIsSentAndAWrongOneIsRefusedAtOnce) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  auto got = client->ReadAll(big_path_);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(client->Write("/data/new/t.txt", "t").ok());
  ASSERT_TRUE(client
                  ->Write("/data/new/t2.txt", 1,
                          [](std::span<char> out) -> Result<size_t> {
                            out[0] = 'x';
                            return 1;
                          })
                  .ok());
  EXPECT_EQ(client->ClusterStatus().front().reachable, true);

  ClientOptions o = Options();
  o.token = "wrong";
  auto start = Clock::now();
  auto c = Client::Connect(o);
  EXPECT_EQ(c.status().code(), StatusCode::kPermissionDenied) << c.status().ToString();
  o.token = "";
  c = Client::Connect(o);
  EXPECT_EQ(c.status().code(), StatusCode::kPermissionDenied) << c.status().ToString();
  EXPECT_LT(SecondsSince(start), 1.0);
}

}  // namespace
}  // namespace sluice
