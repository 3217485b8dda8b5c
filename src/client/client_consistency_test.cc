// sluice::Client reading objects written through another member (testing_cluster.h):
// members whose cached stat is older are asked for the new version; versions never mix.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "client/testing_cluster.h"
#include "sluice/client.h"
#include "ufs/curl_client.h"

namespace sluice {
namespace {

using client::testing::ClientTest;
using client::testing::FreePorts;
using client::testing::kBlock;
using client::testing::kWorkers;
using client::testing::RandomBytes;
using client::testing::SecondsSince;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A large object's blocks are cached by several members; a write goes through one (the
// owner of block 0). The next whole read, a Reader opened after the write, or a read whose
// pieces disagree, asks the others for the new version instead of mixing versions or
// failing until their cached stats expire.
TEST_F(ClientTest, OverwriteOfALargeObjectReadsBackTheNewBytes) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  auto overwrite = [&](uint64_t size, uint32_t seed) {
    auto old = client->ReadAll(big_path_);  // every block owner caches the current version
    EXPECT_TRUE(old.ok()) << old.status().ToString();
    std::string next = RandomBytes(size, seed);
    auto w = client->Write(big_path_, next);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return next;
  };

  std::string next = overwrite(4 * kMiB + 3, 1);
  auto st = client->Stat(big_path_);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->size, next.size());
  auto back = client->ReadAll(big_path_);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == next) << "ReadAll: the bytes differ";

  next = overwrite(4 * kMiB + 5, 2);
  std::string buf(next.size(), '\0');
  auto n = client->Read(big_path_, 0, std::span<char>(buf.data(), buf.size()));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, next.size());
  EXPECT_TRUE(buf == next) << "Read: the bytes differ";

  next = overwrite(3 * kMiB + 7, 3);
  auto reader = client->Open(big_path_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto at = (*reader)->ReadAt(2 * kMiB + 10, std::span<char>(buf.data(), 1000));  // one block
  ASSERT_TRUE(at.ok()) << at.status().ToString();
  EXPECT_TRUE(buf.substr(0, 1000) == next.substr(2 * kMiB + 10, 1000));
  std::string got;
  for (;;) {
    auto r = (*reader)->Read(std::span<char>(buf.data(), 300'001));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (*r == 0) break;
    got.append(buf.data(), *r);
  }
  EXPECT_TRUE(got == next) << "Reader: the bytes differ";

  ASSERT_TRUE(client->Delete(big_path_).ok());
  EXPECT_EQ(client->ReadAll(big_path_).status().code(), StatusCode::kNotFound);
}

// A Reader is pinned to the version it opened: after an overwrite it fails rather than
// mix the bytes of two versions.
TEST_F(ClientTest, ReaderOpenedBeforeAnOverwriteFailsRatherThanMix) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  auto reader = client->Open(big_path_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  char buf[1000];
  auto n = (*reader)->ReadAt(0, std::span<char>(buf, 10));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_TRUE(client->Write(big_path_, RandomBytes(2 * kMiB, 8)).ok());
  n = (*reader)->ReadAt(kBlock / 2, std::span<char>(buf, sizeof(buf)));  // block 0: the writer's
  EXPECT_EQ(n.status().code(), StatusCode::kFailedPrecondition) << n.status().ToString();
}

// The same with the client's memory cache: bytes of a newer version are never kept under
// the old version's name, nor handed to the Reader as if they were of it.
TEST_F(ClientTest, MemoryCachedReaderFailsRatherThanMixAfterAnOverwrite) {
  ClientOptions o = Options();
  o.memory_cache = 64 << 20;
  auto client = Connect(o);
  ASSERT_NE(client, nullptr);
  auto reader = client->Open(big_path_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto second = client->Open(big_path_);  // of the same (old) version
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  std::string buf(1 << 20, '\0');
  ASSERT_TRUE((*reader)->ReadAt(0, std::span<char>(buf.data(), 10)).ok());  // chunk 0 kept
  const uint64_t size = (*reader)->stat().size;
  ASSERT_TRUE(client->Write(big_path_, RandomBytes(size, 9)).ok());
  // Not in memory: fetched, and found to be of another version.
  auto n = (*reader)->ReadAt(kBlock / 2, std::span<char>(buf.data(), buf.size()));
  EXPECT_EQ(n.status().code(), StatusCode::kFailedPrecondition) << n.status().ToString();
  // Nor were the new bytes kept under the old version's name for the next reader of it.
  n = (*second)->ReadAt(kBlock / 2, std::span<char>(buf.data(), buf.size()));
  EXPECT_EQ(n.status().code(), StatusCode::kFailedPrecondition) << n.status().ToString();
}

// The same through the S3 API: a GET of a large object streams blocks that other members
// own from them (worker/peers.h); after an overwrite their cached stats are stale.
TEST_F(ClientTest, S3GetOfAnOverwrittenLargeObjectServesTheNewBytes) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  ufs::CurlClientOptions co;
  co.max_retries = 0;
  ufs::CurlClient http(co);
  ufs::HttpRequest get;
  get.url = endpoints_[OwnerOf(big_path_)] + big_path_;
  auto first = http.Perform(get);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->status, 200) << first->body.substr(0, 300);
  EXPECT_TRUE(first->body == big_);

  const std::string next = RandomBytes(4 * kMiB + 9, 21);
  ASSERT_TRUE(client->Write(big_path_, next).ok());
  auto second = http.Perform(get);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_EQ(second->status, 200) << second->body.substr(0, 300);
  EXPECT_EQ(second->body.size(), next.size());
  EXPECT_TRUE(second->body == next) << "the bytes differ";
}

// A member that cached "not found" for a block of an object created later through another.
TEST_F(ClientTest, ObjectCreatedAfterAMissIsReadWhole) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  const std::string path = "/data/new/late.bin";
  char c;
  for (uint64_t b = 0; b < 3; ++b) {
    auto n = client->Read(path, b * kBlock, std::span<char>(&c, 1));
    EXPECT_EQ(n.status().code(), StatusCode::kNotFound) << n.status().ToString();
  }
  const std::string data = RandomBytes(3 * kMiB - 1, 11);
  ASSERT_TRUE(client->Write(path, data).ok());
  std::string buf(1000, '\0');
  auto n = client->Read(path, 2 * kBlock + 5, std::span<char>(buf.data(), buf.size()));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_TRUE(buf.substr(0, *n) == data.substr(2 * kBlock + 5, 1000));
  auto back = client->ReadAll(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == data);
}

// An object rewritten (through Sluice) between a whole read's stat and its bytes: the read
// returns one version whole, never the new bytes cut to the old size.
TEST_F(ClientTest, ReadAllDuringOverwritesReturnsOneWholeVersion) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  const std::string path = "/data/new/manifest.json";
  const std::string small(1000, 'a'), large(3000, 'b');
  ASSERT_TRUE(client->Write(path, small).ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) (void)client->Write(path, i % 2 == 0 ? large : small);
  });
  int torn = 0, failed = 0;
  for (int i = 0; i < 400; ++i) {
    auto got = client->ReadAll(path);
    if (!got.ok()) {
      ++failed;  // kFailedPrecondition after three changes in a row is allowed
      EXPECT_EQ(got.status().code(), StatusCode::kFailedPrecondition) << got.status().ToString();
      continue;
    }
    if (*got != small && *got != large) ++torn;
  }
  stop = true;
  writer.join();
  EXPECT_EQ(torn, 0) << "reads that mixed or cut versions";
  EXPECT_LT(failed, 400);
}

}  // namespace
}  // namespace sluice
