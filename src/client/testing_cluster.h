// A real Sluice cluster for client tests: three in-process workers on loopback ports
// picked up front (a member's id is its listen address, so every worker gets the same
// peer list), one file:// mount over a temp dir filled with test objects, 1 MiB blocks,
// a 64 MiB memory tier and no worker read-ahead (under-store reads happen only when a
// reader asks, so tests can count them). Header-only; for the client's *_test.cc files.
//
// Thread-safety: a fixture belongs to its test's thread; the workers serve concurrently.
#pragma once

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/logging.h"
#include "common/units.h"
#include "placement/membership.h"
#include "placement/placement.h"
#include "sluice/client.h"
#include "worker/worker.h"

namespace sluice::client::testing {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

inline constexpr int kWorkers = 3;
inline constexpr uint64_t kBlock = 1 * kMiB;  // the smallest block size a ring allows

// `n` distinct loopback ports that were free a moment ago (bound together, then closed).
inline std::vector<uint16_t> FreePorts(int n) {
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

inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    (void)SetLogLevel("warn");  // a worker per test logs its start at info
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
  std::vector<std::string> ids_;                           // "127.0.0.1:P"
  std::vector<std::string> endpoints_;                     // "http://127.0.0.1:P"
  std::shared_ptr<const placement::Placement> placement_;  // the workers' placement
  std::map<std::string, std::string> files_;               // namespace path -> bytes
  std::string big_path_, big_;
  std::string token_;  // the workers' cluster token (none by default)
  std::unique_ptr<worker::Worker> workers_[kWorkers];
};

class ClientTokenTest : public ClientTest {
 protected:
  ClientTokenTest() { token_ = "s3cret"; }
};

}  // namespace sluice::client::testing
