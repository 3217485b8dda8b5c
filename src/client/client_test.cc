// sluice::Client against a real three-worker cluster (testing_cluster.h): connecting,
// stat, listings, reads block by block from their owners, the Reader, writes, deletes,
// frees and errors.
#include "sluice/client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/testing_cluster.h"
#include "client/transport.h"

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

TEST_F(ClientTest, ConnectsThroughOneSeedAndListsEveryWorker) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  auto workers = client->Workers();
  std::sort(workers.begin(), workers.end());
  auto want = endpoints_;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(workers, want);

  auto reports = client->ClusterStatus();
  ASSERT_EQ(reports.size(), 3u);
  for (const auto& r : reports) {
    EXPECT_TRUE(r.reachable) << r.id << ": " << r.state;
    EXPECT_EQ(r.state, "ready");
    EXPECT_EQ(r.capacity_bytes, 64 * kMiB);
    EXPECT_EQ(nlohmann::json::parse(r.json).value("id", ""), r.id);
  }
}

TEST_F(ClientTest, StatsObjectsAndDirectories) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  auto st = client->Stat("/data/small.txt");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->path, "/data/small.txt");
  EXPECT_EQ(st->size, 12u);
  EXPECT_FALSE(st->is_dir);
  EXPECT_FALSE(st->version.empty());
  EXPECT_FALSE(st->etag.empty());
  EXPECT_GT(st->mtime_ns, 0);

  auto big = client->Stat(big_path_);
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->size, big_.size());

  auto dir = client->Stat("/data/dir");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_TRUE(dir->is_dir);
  auto all = client->ReadAll("/data/dir");
  EXPECT_EQ(all.status().code(), StatusCode::kInvalidArgument);
}

// Collects every page of a listing.
struct Listing {
  std::vector<std::string> objects, prefixes;
  int pages = 0;
};
Listing ListAll(Client& c, const std::string& path, const std::string& delimiter, int max_keys) {
  Listing out;
  std::string token;
  do {
    auto page = c.List(path, delimiter, token, max_keys);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) break;
    EXPECT_LE(page->objects.size() + page->prefixes.size(), static_cast<size_t>(max_keys));
    for (const auto& o : page->objects) out.objects.push_back(o.path);
    for (const auto& p : page->prefixes) out.prefixes.push_back(p);
    token = page->next_token;
    if (++out.pages > 100) break;
  } while (!token.empty());
  return out;
}

TEST_F(ClientTest, ListsPagesPrefixesAndRecursively) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  using V = std::vector<std::string>;

  auto one_level = ListAll(*client, "/data/dir", "/", 2);
  EXPECT_EQ(one_level.objects, (V{"/data/dir/a.txt", "/data/dir/b.txt", "/data/dir/e.txt"}));
  EXPECT_EQ(one_level.prefixes, (V{"/data/dir/sub/", "/data/dir/sub2/"}));
  EXPECT_EQ(one_level.pages, 3);

  auto whole = client->List("/data/dir", "/");
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->objects.size(), 3u);
  EXPECT_EQ(whole->objects[0].size, std::string("contents of dir/a.txt").size());
  EXPECT_TRUE(whole->next_token.empty());

  V all{"/data/dir/a.txt",     "/data/dir/b.txt",     "/data/dir/e.txt",
        "/data/dir/sub/c.txt", "/data/dir/sub/d.txt", "/data/dir/sub2/f.txt"};
  auto recursive = ListAll(*client, "/data/dir", "", 1000);
  EXPECT_EQ(recursive.objects, all);
  EXPECT_TRUE(recursive.prefixes.empty());
  EXPECT_EQ(recursive.pages, 1);
  auto recursive_paged = ListAll(*client, "/data/dir", "", 4);
  EXPECT_EQ(recursive_paged.objects, all);
  EXPECT_EQ(recursive_paged.pages, 2);

  auto root = client->List("/");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->prefixes, V{"/data/"});
}

TEST_F(ClientTest, ReadsWholeObjectsRangesAndBlocksFromTheirOwners) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  auto small = client->ReadAll("/data/small.txt");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(*small, "hello sluice");

  char buf[16];
  auto n = client->Read("/data/small.txt", 6, std::span<char>(buf, 6));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(std::string(buf, *n), "sluice");
  n = client->Read("/data/small.txt", 9, std::span<char>(buf, sizeof(buf)));  // clamped
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(std::string(buf, *n), "ice");
  n = client->Read("/data/small.txt", 12, std::span<char>(buf, sizeof(buf)));  // at the end
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 0u);
  n = client->Read("/data/small.txt", 1000, std::span<char>(buf, sizeof(buf)));  // past it
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 0u);

  auto big = client->ReadAll(big_path_);
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  ASSERT_EQ(big->size(), big_.size());
  EXPECT_TRUE(*big == big_) << "the bytes differ";

  // A read across four blocks, starting and ending inside one.
  const uint64_t off = kBlock - 100;
  std::string range(3 * kBlock + 200, '\0');
  n = client->Read(big_path_, off, std::span<char>(range.data(), range.size()));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_EQ(*n, range.size());
  EXPECT_TRUE(range == big_.substr(off, range.size())) << "the bytes differ";

  // A read running off the end of the object.
  std::string tail(2 * kBlock, '\0');
  n = client->Read(big_path_, big_.size() - 1000, std::span<char>(tail.data(), tail.size()));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_EQ(*n, 1000u);
  EXPECT_TRUE(tail.substr(0, 1000) == big_.substr(big_.size() - 1000));

  // Each block went to its owner, and only there (the client sends X-Sluice-Hop: no
  // worker forwards): exactly the block owners read, each from the under store.
  auto owners = BlockOwners(big_path_, big_.size());
  owners.insert(OwnerOf("/data/small.txt"));
  int serving = 0;
  for (int i = 0; i < kWorkers; ++i) {
    SCOPED_TRACE(ids_[i]);
    EXPECT_EQ(CacheReads(i) > 0, owners.count(i) == 1);
    EXPECT_EQ(UfsReads(i) > 0, owners.count(i) == 1);
    serving += UfsReads(i) > 0;
  }
  EXPECT_EQ(serving, kWorkers);
  EXPECT_EQ(client->Stats().failovers, 0u);
  EXPECT_EQ(client->Stats().ufs_fallbacks, 0u);
}

TEST_F(ClientTest, ReadsConcurrentlyFromOneClient) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        uint64_t off = (t * 5 + i) * 200'003 % big_.size();
        std::string out(1'500'000, '\0');
        auto n = client->Read(big_path_, off, std::span<char>(out.data(), out.size()));
        if (!n.ok() || out.substr(0, *n) != big_.substr(off, *n) ||
            *n != std::min<uint64_t>(out.size(), big_.size() - off)) {
          bad++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(ClientTest, ReaderReproducesTheObjectInOddSizes) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  auto reader = client->Open(big_path_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Reader& r = **reader;
  EXPECT_EQ(r.stat().size, big_.size());
  EXPECT_EQ(r.stat().path, big_path_);

  const size_t sizes[] = {1, 4095, 65537, 1'000'003, 7, 300'000, 2'500'001};
  std::string got;
  std::vector<char> buf(3 * kMiB);
  for (int i = 0; i < 1000; ++i) {
    size_t want = sizes[i % std::size(sizes)];
    auto n = r.Read(std::span<char>(buf.data(), want));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
    EXPECT_LE(*n, want);
    got.append(buf.data(), *n);
    EXPECT_EQ(r.Tell(), got.size());
  }
  ASSERT_EQ(got.size(), big_.size());
  EXPECT_TRUE(got == big_) << "the bytes differ";
  auto n = r.Read(std::span<char>(buf.data(), 10));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);

  // Seek back into the middle, then on sequentially.
  r.Seek(12345);
  EXPECT_EQ(r.Tell(), 12345u);
  for (uint64_t at = 12345; at < 12345 + 3 * 70'001; at += 70'001) {
    n = r.Read(std::span<char>(buf.data(), 70'001));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    ASSERT_EQ(*n, 70'001u);
    EXPECT_TRUE(std::string(buf.data(), *n) == big_.substr(at, *n)) << "at " << at;
  }
  const uint64_t pos = r.Tell();

  // ReadAt does not move the position, and stops at the end.
  n = r.ReadAt(3 * kMiB + 5, std::span<char>(buf.data(), 5000));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_EQ(*n, 5000u);
  EXPECT_TRUE(std::string(buf.data(), 5000) == big_.substr(3 * kMiB + 5, 5000));
  n = r.ReadAt(big_.size() - 10, std::span<char>(buf.data(), 100));
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(std::string(buf.data(), *n) == big_.substr(big_.size() - 10));
  n = r.ReadAt(big_.size() + 10, std::span<char>(buf.data(), 100));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  // A large random read goes straight into the caller's buffer.
  n = r.ReadAt(100, std::span<char>(buf.data(), buf.size()));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_EQ(*n, buf.size());
  EXPECT_TRUE(std::string(buf.data(), *n) == big_.substr(100, *n));
  EXPECT_EQ(r.Tell(), pos);

  // Seek past the end reads nothing.
  r.Seek(big_.size() + 1);
  n = r.Read(std::span<char>(buf.data(), 10));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);

  auto small = client->Open("/data/small.txt");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  n = (*small)->Read(std::span<char>(buf.data(), 5));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf.data(), *n), "hello");
  n = (*small)->Read(std::span<char>(buf.data(), 100));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf.data(), *n), " sluice");

  EXPECT_EQ(client->Open("/data/missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client->Open("/data/dir").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ClientTest, WritesReadBackAndDeletes) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);

  auto w = client->Write("/data/new/w1.txt", "written through");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->size, 15u);
  EXPECT_EQ(w->path, "/data/new/w1.txt");
  auto back = client->ReadAll("/data/new/w1.txt");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, "written through");
  std::ifstream on_disk(data_ / "new/w1.txt", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(on_disk), {}), "written through");

  // Streamed from a source, spanning several blocks (and so several owners).
  const std::string payload = RandomBytes(3 * kMiB + 17, 99);
  size_t at = 0;
  int calls = 0;
  auto streamed =
      client->Write("/data/new/w2.bin", payload.size(), [&](std::span<char> out) -> Result<size_t> {
        calls++;
        size_t n = std::min<size_t>({out.size(), payload.size() - at, 100'000});
        std::memcpy(out.data(), payload.data() + at, n);
        at += n;
        return n;
      });
  ASSERT_TRUE(streamed.ok()) << streamed.status().ToString();
  EXPECT_EQ(streamed->size, payload.size());
  EXPECT_GT(calls, 1);
  back = client->ReadAll("/data/new/w2.bin");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == payload) << "the bytes differ";

  // Overwrite of a small object: the new bytes, at once.
  w = client->Write("/data/new/w1.txt", std::string_view("v2"));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  back = client->ReadAll("/data/new/w1.txt");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, "v2");

  // A source that fails fails the write.
  auto failed = client->Write("/data/new/w3.bin", 1000, [](std::span<char>) -> Result<size_t> {
    return Status::IoError("source broke");
  });
  EXPECT_EQ(failed.status().code(), StatusCode::kIoError) << failed.status().ToString();

  ASSERT_TRUE(client->Delete("/data/new/w1.txt").ok());
  EXPECT_EQ(client->Stat("/data/new/w1.txt").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client->ReadAll("/data/new/w1.txt").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(data_ / "new/w1.txt"));
}

TEST_F(ClientTest, FreeDropsCachedPagesSoTheNextReadRefetches) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->ReadAll(big_path_).ok());
  const uint64_t cold = TotalUfsReads();
  EXPECT_GT(cold, 0u);
  ASSERT_TRUE(client->ReadAll(big_path_).ok());
  EXPECT_EQ(TotalUfsReads(), cold) << "a second read is served from the cache";

  auto freed = client->Free(big_path_);
  ASSERT_TRUE(freed.ok()) << freed.status().ToString();
  EXPECT_EQ(*freed, 6u);  // 1 MiB pages: five whole ones and the tail

  auto again = client->ReadAll(big_path_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(*again == big_);
  EXPECT_GT(TotalUfsReads(), cold) << "the read after Free went to the under store";

  // A directory frees everything below it.
  ASSERT_TRUE(client->ReadAll("/data/dir/a.txt").ok());
  ASSERT_TRUE(client->ReadAll("/data/dir/sub/c.txt").ok());
  freed = client->Free("/data/dir");
  ASSERT_TRUE(freed.ok()) << freed.status().ToString();
  EXPECT_EQ(*freed, 2u);
}

TEST_F(ClientTest, MissingObjectIsNotFoundWithoutFailoverOrFallback) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  auto st = client->Stat("/data/missing.txt");
  EXPECT_EQ(st.status().code(), StatusCode::kNotFound) << st.status().ToString();
  char buf[10];
  auto n = client->Read("/data/missing.txt", 0, std::span<char>(buf, sizeof(buf)));
  EXPECT_EQ(n.status().code(), StatusCode::kNotFound) << n.status().ToString();
  EXPECT_EQ(client->ReadAll("/data/missing.txt").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client->Delete("/data/missing.txt").code(), StatusCode::kNotFound);
  EXPECT_EQ(client->Stats().failovers, 0u);
  EXPECT_EQ(client->Stats().ufs_fallbacks, 0u);
}

TEST(ClientConnectTest, NothingListeningIsUnavailableQuicklyNamingTheAddress) {
  auto ports = FreePorts(2);
  ClientOptions o;
  o.cluster = fmt::format("127.0.0.1:{},127.0.0.1:{}", ports[0], ports[1]);
  o.connect_timeout = milliseconds(200);
  auto start = Clock::now();
  auto c = Client::Connect(o);
  EXPECT_LT(SecondsSince(start), 2.0);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(c.status().message().find(fmt::format("127.0.0.1:{}", ports[0])), std::string::npos)
      << c.status().ToString();
  EXPECT_NE(c.status().message().find(fmt::format("127.0.0.1:{}", ports[1])), std::string::npos)
      << c.status().ToString();
}

TEST(ClientConnectTest, MalformedOrMissingClusterIsInvalidArgument) {
  ClientOptions o;
  o.cluster = "nonsense";
  auto c = Client::Connect(o);
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status().ToString();
  o.cluster = "127.0.0.1:99999";
  EXPECT_EQ(Client::Connect(o).status().code(), StatusCode::kInvalidArgument);
  o.cluster = "";
  c = Client::Connect(o);
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status().ToString();
}

TEST(ClientErrorTest, WorkerErrorCodesMapBackToStatusCodes) {
  ufs::HttpResponse r;
  r.status = 500;
  for (StatusCode code : {StatusCode::kNotFound, StatusCode::kDataLoss, StatusCode::kIoError,
                          StatusCode::kInternal, StatusCode::kResourceExhausted}) {
    r.body = nlohmann::json{{"error", {{"code", StatusCodeName(code)}, {"message", "m"}}}}.dump();
    Status s = client::ErrorOf(r, "ctx");
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_EQ(s.message(), "ctx: m");
  }
  r.status = 409;
  r.body = R"({"error":{"code":"RingMismatch","message":"differ"}})";
  EXPECT_EQ(client::ErrorOf(r, "ctx").code(), StatusCode::kFailedPrecondition);
  r.status = 404;
  r.body = "not json";
  EXPECT_EQ(client::ErrorOf(r, "ctx").code(), StatusCode::kNotFound);
}

TEST_F(ClientTest, NamesThatNeedEscapingAndEmptyObjects) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  const std::string odd = "/data/odd dir/a b+c&d=e%f#1.txt";
  auto got = client->ReadAll(odd);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "odd name");
  auto page = client->List("/data/odd dir");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].path, odd);
  auto w = client->Write("/data/odd dir/new ?&=+.txt", "x");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_TRUE(fs::exists(data_ / "odd dir/new ?&=+.txt"));

  auto empty = client->ReadAll("/data/empty");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(*empty, "");
  auto reader = client->Open("/data/empty");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  char buf[10];
  auto n = (*reader)->Read(std::span<char>(buf, sizeof(buf)));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 0u);
  auto e = client->Write("/data/new/empty", std::string_view());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->size, 0u);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

using MemoryCacheTest = client::testing::ClientTest;

TEST_F(MemoryCacheTest, ServesRereadsWithoutTheNetwork) {
  ClientOptions o = Options();
  o.memory_cache = 64 << 20;
  auto client = Connect(o);
  ASSERT_NE(client, nullptr);
  const auto& [path, bytes] = *std::max_element(
      files_.begin(), files_.end(),
      [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
  for (int pass = 0; pass < 2; ++pass) {
    auto r = client->Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    std::string got(bytes.size(), '\0');
    size_t done = 0;
    while (done < got.size()) {  // odd-sized reads across chunk edges
      auto n = (*r)->Read(std::span<char>(got.data() + done, std::min<size_t>(300001, got.size() - done)));
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      if (*n == 0) break;
      done += *n;
    }
    EXPECT_EQ(got, bytes) << "pass " << pass;
    if (pass == 0) {
      EXPECT_GT(client->Stats().memory_cache_misses, 0u);
    }
  }
  const auto before = client->Stats();
  auto r = client->Open(path);  // one stat
  ASSERT_TRUE(r.ok());
  std::string got(bytes.size(), '\0');
  ASSERT_EQ(*(*r)->ReadAt(0, std::span<char>(got)), bytes.size());
  EXPECT_EQ(got, bytes);
  EXPECT_EQ(client->Stats().requests, before.requests + 1);  // the stat only: bytes from memory
  EXPECT_GT(client->Stats().memory_cache_hits, before.memory_cache_hits);
}

}  // namespace
}  // namespace sluice
