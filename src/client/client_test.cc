// Tests of sluice::Client against a real, in-process cluster of three workers sharing one
// file:// mount: placement, listings, reads (block by block), the Reader, writes, frees,
// errors, failover to replicas and to the under store, a restarted worker, and the
// ring-fingerprint check.
#include "sluice/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "client/transport.h"
#include "common/units.h"
#include "placement/membership.h"
#include "placement/placement.h"
#include "ufs/curl_client.h"
#include "worker/worker.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kWorkers = 3;
constexpr uint64_t kBlock = 1 * kMiB;  // the smallest block size a ring allows

// `n` distinct loopback ports that were free a moment ago (bound together, then closed).
std::vector<uint16_t> FreePorts(int n) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  for (int i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot pick a free port";
    }
    fds.push_back(fd);
    ports.push_back(ntohs(addr.sin_port));
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sluice-client-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    data_ = root_ / "data";
    ports_ = FreePorts(kWorkers);
    for (uint16_t p : ports_) {
      ids_.push_back(fmt::format("127.0.0.1:{}", p));
      endpoints_.push_back(fmt::format("http://127.0.0.1:{}", p));
    }
    std::string peers;
    for (const auto& id : ids_) peers += (peers.empty() ? "" : ",") + id;
    auto members = placement::ParsePeers(peers);
    ASSERT_TRUE(members.ok()) << members.status().ToString();
    placement::RingSettings ring;
    ring.block_size = kBlock;
    auto p = placement::Placement::Create(ring, *members);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    placement_ = *p;

    PutFile("small.txt", "hello sluice");
    PutFile("empty", "");
    PutFile("odd dir/a b+c&d=e%f#1.txt", "odd name");
    for (const char* name : {"dir/a.txt", "dir/b.txt", "dir/e.txt", "dir/sub/c.txt",
                             "dir/sub/d.txt", "dir/sub2/f.txt"}) {
      PutFile(name, std::string("contents of ") + name);
    }
    for (int i = 0; i < 12; ++i) {
      PutFile(fmt::format("files/f{}", i), RandomBytes(1000 + 37 * i, 100 + i));
    }
    // A ~5 MiB file whose blocks spread over every worker (the name decides the owners).
    big_ = RandomBytes(5 * kMiB + 12345, 7);
    for (int k = 0; k < 100 && big_path_.empty(); ++k) {
      std::string path = fmt::format("/data/big{}.bin", k);
      if (BlockOwners(path, big_.size()).size() == kWorkers) big_path_ = path;
    }
    ASSERT_FALSE(big_path_.empty()) << "no file name spreads its blocks over every worker";
    PutFile(big_path_.substr(6), big_);

    for (int i = 0; i < kWorkers; ++i) StartWorker(i);
  }

  void TearDown() override {
    for (auto& w : workers_) w.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void PutFile(const std::string& rel, const std::string& bytes) {
    fs::create_directories((data_ / rel).parent_path());
    std::ofstream(data_ / rel, std::ios::binary) << bytes;
    files_["/data/" + rel] = bytes;
  }

  void StartWorker(int i) {
    worker::WorkerConfig c;
    c.log_level = "warn";
    c.server.listen = ids_[i];
    c.server.io_threads = 1;
    c.server.handler_threads = 16;
    c.mounts.push_back({"data", "file://" + data_.string()});
    c.pages.memory = 64 * kMiB;
    c.cache.readahead_pages = 0;  // under-store reads happen only when a reader asks
    c.staging_dir = (root_ / fmt::format("staging{}", i)).string();
    c.cluster.peers = ids_;
    c.cluster.ring.block_size = kBlock;
    c.cluster_token = token_;
    auto w = worker::Worker::Create(std::move(c));
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    Status s = (*w)->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    workers_[i] = std::move(w).value();
  }

  ClientOptions Options() const {
    ClientOptions o;
    o.cluster = ids_[0];  // one seed; the rest comes from GET /v1/cluster
    o.connect_timeout = milliseconds(200);
    o.request_timeout = milliseconds(3000);
    o.deadline = milliseconds(5000);
    o.down_time = milliseconds(500);
    o.refresh_interval = milliseconds(200);
    o.readahead = 2 * kMiB;
    o.chunk_size = 512 * 1024;
    o.token = token_;
    return o;
  }

  std::unique_ptr<Client> Connect(ClientOptions o) {
    auto c = Client::Connect(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // The index (into ports_) of the primary owner of a block.
  int OwnerOf(const std::string& path, uint64_t block = 0) const {
    auto owners = placement_->Owners(path, block);
    for (int i = 0; i < kWorkers; ++i) {
      if (owners.front()->id == ids_[i]) return i;
    }
    ADD_FAILURE() << "no owner for " << path;
    return 0;
  }

  std::set<int> BlockOwners(const std::string& path, uint64_t size) const {
    std::set<int> out;
    for (uint64_t b = 0; b * kBlock < size; ++b) out.insert(OwnerOf(path, b));
    return out;
  }

  uint64_t UfsReads(int i) const { return workers_[i]->engine().cache->GetStats().ufs_reads; }
  uint64_t CacheReads(int i) const { return workers_[i]->engine().cache->GetStats().reads; }
  uint64_t TotalUfsReads() const {
    uint64_t n = 0;
    for (int i = 0; i < kWorkers; ++i) n += workers_[i] ? UfsReads(i) : 0;
    return n;
  }

  fs::path root_, data_;
  std::vector<uint16_t> ports_;
  std::vector<std::string> ids_;        // "127.0.0.1:P"
  std::vector<std::string> endpoints_;  // "http://127.0.0.1:P"
  std::shared_ptr<const placement::Placement> placement_;  // the workers' placement
  std::map<std::string, std::string> files_;                // namespace path -> bytes
  std::string big_path_, big_;
  std::string token_;  // the workers' cluster token (none by default)
  std::unique_ptr<worker::Worker> workers_[kWorkers];
};

class ClientTokenTest : public ClientTest {
 protected:
  ClientTokenTest() { token_ = "s3cret"; }
};

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
  auto streamed = client->Write(
      "/data/new/w2.bin", payload.size(), [&](std::span<char> out) -> Result<size_t> {
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
  auto back = client->ReadAll(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == data);
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
  ::close(fd);
}

TEST_F(ClientTokenTest, TokenIsSentAndAWrongOneIsRefusedAtOnce) {
  auto client = Connect(Options());
  ASSERT_NE(client, nullptr);
  auto got = client->ReadAll(big_path_);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(client->Write("/data/new/t.txt", "t").ok());
  ASSERT_TRUE(client->Write("/data/new/t2.txt", 1, [](std::span<char> out) -> Result<size_t> {
    out[0] = 'x';
    return 1;
  }).ok());
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
