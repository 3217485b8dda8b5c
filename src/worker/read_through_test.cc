#include "worker/read_through.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "ufs/fake_store.h"
#include "ufs/testing_env.h"

namespace sluice::worker {
namespace {

namespace fs = std::filesystem;
using ufs::FakeOp;
using ufs::FakeStore;

constexpr uint64_t kPage = 64 * kKiB;

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class ReadThroughTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = std::make_shared<FakeStore>();
    mounts_ = std::make_shared<ufs::MountTable>();
    ASSERT_TRUE(mounts_->Add("data", fake_->Uri(), fake_).ok());
    options_.page_size = kPage;
    options_.metadata_ttl = std::chrono::seconds(10);
  }

  void UseMemory(uint64_t capacity = 64 * kMiB, const std::string& eviction = "s3fifo") {
    auto s = pagestore::MakeMemoryStore({capacity, eviction});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    pages_ = std::shared_ptr<pagestore::PageStore>(std::move(s).value());
  }

  void UseDisk(const std::string& dir) {
    pagestore::DiskStoreOptions o;
    o.dirs = {{dir, 64 * kMiB}};
    auto s = pagestore::OpenDiskStore(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    pages_ = std::shared_ptr<pagestore::PageStore>(std::move(s).value());
  }

  ReadThroughCache& Cache() {
    if (!cache_) cache_ = std::make_unique<ReadThroughCache>(options_, mounts_, pages_, &clock_);
    return *cache_;
  }

  std::string MustRead(const std::string& path, uint64_t off, uint64_t len) {
    auto r = Cache().ReadRange(path, off, len);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : "";
  }

  FakeClock clock_;
  CacheOptions options_;
  std::shared_ptr<FakeStore> fake_;
  std::shared_ptr<ufs::MountTable> mounts_;
  std::shared_ptr<pagestore::PageStore> pages_;
  std::unique_ptr<ReadThroughCache> cache_;
};

// Freeing a directory: the pages of every object the cache knows below it go, those of
// objects deleted from the store since (no listing shows them) included; a sibling
// directory whose name extends it ("dir2") keeps its pages.
TEST_F(ReadThroughTest, ForgetBelowDropsDeletedObjectsButNotSiblingDirectories) {
  UseMemory();
  options_.readahead_pages = 0;
  fake_->Put("dir/a", Pattern(2 * kPage, 1));
  fake_->Put("dir/sub/b", Pattern(kPage, 2));
  fake_->Put("dir2/c", Pattern(kPage, 3));
  for (const char* p : {"/data/dir/a", "/data/dir/sub/b", "/data/dir2/c"}) MustRead(p, 0, 2 * kPage);
  ASSERT_EQ(pages_->GetStats().pages, 4u);
  ASSERT_TRUE(fake_->Delete("dir/a").ok());
  clock_.Advance(std::chrono::seconds(60));  // expired stats are dropped as well

  EXPECT_EQ(Cache().ForgetBelow("/data/dir"), 3u);
  EXPECT_EQ(pages_->GetStats().pages, 1u);
  const uint64_t reads = fake_->CallCount(FakeOp::kRead);
  EXPECT_EQ(MustRead("/data/dir2/c", 0, kPage), Pattern(kPage, 3));
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), reads);  // still a hit
}

TEST_F(ReadThroughTest, ServesAnyRangeAcrossPages) {
  UseMemory();
  std::string src = Pattern(3 * kPage + 1234, 1);
  fake_->Put("obj", src);
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    uint64_t off = rng() % (src.size() + 10);
    uint64_t len = rng() % (2 * kPage);
    std::string want = off < src.size() ? src.substr(off, len) : "";
    ASSERT_EQ(MustRead("/data/obj", off, len), want) << "off=" << off << " len=" << len;
  }
}

TEST_F(ReadThroughTest, SecondReadHitsPagesOnly) {
  UseMemory();
  options_.readahead_pages = 0;
  fake_->Put("obj", Pattern(2 * kPage, 2));
  MustRead("/data/obj", 0, 2 * kPage);
  uint64_t reads = fake_->CallCount(FakeOp::kRead);
  uint64_t hits = Cache().GetStats().page_hits;
  EXPECT_EQ(MustRead("/data/obj", 0, 2 * kPage), Pattern(2 * kPage, 2));
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), reads);
  EXPECT_EQ(Cache().GetStats().page_hits, hits + 2);
}

TEST_F(ReadThroughTest, ConcurrentReadersOfOneMissingPageCauseOneUnderStoreRead) {
  UseMemory();
  options_.readahead_pages = 0;
  fake_->Put("hot", Pattern(kPage, 3));
  Cache();  // built before the readers start: Cache() is not thread-safe
  fake_->SetLatency(std::chrono::milliseconds(200));
  std::vector<std::thread> readers;
  std::atomic<int> good{0};
  for (int i = 0; i < 32; ++i) {
    readers.emplace_back([&, i] {
      auto r = Cache().ReadRange("/data/hot", static_cast<uint64_t>(i) * 100, 1000);
      if (r.ok() && *r == Pattern(kPage, 3).substr(static_cast<size_t>(i) * 100, 1000)) good++;
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(good.load(), 32);
  // Cold metadata too: one ranged read returned the object's info and its page.
  EXPECT_EQ(fake_->CallCount(FakeOp::kStat), 0u);
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), 1u);
  EXPECT_EQ(Cache().GetStats().ufs_reads, 1u);
}

TEST_F(ReadThroughTest, ConcurrentReadersOfOneMissingPageWithWarmMetadata) {
  UseMemory();
  options_.readahead_pages = 0;
  fake_->Put("hot", Pattern(4 * kPage, 3));
  ASSERT_TRUE(Cache().Stat("/data/hot").ok());
  fake_->SetLatency(std::chrono::milliseconds(200));
  std::vector<std::thread> readers;
  std::atomic<int> good{0};
  for (int i = 0; i < 32; ++i) {
    readers.emplace_back([&] {
      auto r = Cache().ReadRange("/data/hot", 2 * kPage + 10, 100);
      if (r.ok() && *r == Pattern(4 * kPage, 3).substr(2 * kPage + 10, 100)) good++;
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(good.load(), 32);
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), 1u);
  EXPECT_EQ(Cache().GetStats().single_flight_waits, 31u);
}

TEST_F(ReadThroughTest, ColdSmallObjectCostsOneUnderStoreRequest) {
  UseMemory();
  fake_->Put("small", "sixteen bytes!!!");
  EXPECT_EQ(MustRead("/data/small", 0, 100), "sixteen bytes!!!");
  EXPECT_EQ(fake_->CallCount(FakeOp::kStat), 0u);
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), 1u);
}

TEST_F(ReadThroughTest, CoalescesAdjacentMissingPagesIntoOneRead) {
  UseMemory();
  options_.readahead_pages = 0;
  fake_->Put("obj", Pattern(8 * kPage, 4));
  EXPECT_EQ(MustRead("/data/obj", 0, 8 * kPage), Pattern(8 * kPage, 4));
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), 1u);
}

TEST_F(ReadThroughTest, SequentialReaderGetsReadAhead) {
  UseMemory();
  options_.readahead_pages = 8;
  std::string src = Pattern(32 * kPage, 5);
  fake_->Put("seq", src);
  // Four pages read sequentially, half a page at a time, open a read-ahead window.
  uint64_t off = 0;
  for (; off < 4 * kPage; off += kPage / 2) {
    ASSERT_EQ(MustRead("/data/seq", off, kPage / 2), src.substr(off, kPage / 2));
  }
  // Read-ahead runs on background threads: wait (bounded) until it has fetched page 4,
  // rather than racing it (a loaded machine may run the reader first).
  const Hash128 file_id =
      pagestore::MakeFileId(fake_->Uri() + "/seq", fake_->Stat("seq")->Version(), kPage);
  for (int i = 0; i < 500 && !pages_->Contains({file_id, 4}); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(pages_->Contains({file_id, 4}));
  EXPECT_GT(Cache().GetStats().readahead_pages, 0u);
  // The reader then finds page 4 already cached: a hit, not a fetch of its own.
  const auto before = Cache().GetStats();
  ASSERT_EQ(MustRead("/data/seq", off, kPage), src.substr(off, kPage));
  EXPECT_EQ(Cache().GetStats().page_hits, before.page_hits + 1);
  EXPECT_EQ(Cache().GetStats().page_misses, before.page_misses);
  for (off += kPage; off < src.size(); off += kPage / 2) {
    ASSERT_EQ(MustRead("/data/seq", off, kPage / 2), src.substr(off, kPage / 2));
  }
}

TEST_F(ReadThroughTest, SequentialReaderServedFromMemoryKeepsItsReadAhead) {
  UseMemory();
  options_.readahead_pages = 8;
  std::string src = Pattern(32 * kPage, 6);
  fake_->Put("seq", src);
  // Pages 1 then 0, out of order: cached, no read-ahead yet (the stream expects page 1).
  MustRead("/data/seq", kPage, kPage);
  MustRead("/data/seq", 0, kPage);
  const std::string version = fake_->Stat("seq")->Version();
  const Hash128 file_id = pagestore::MakeFileId(fake_->Uri() + "/seq", version, kPage);
  EXPECT_FALSE(pages_->Contains({file_id, 2}));
  // Page 1 again, shared from memory without a copy: the stream goes on, so page 2 is
  // fetched ahead (served and inline requests must not break a sequential reader).
  auto slices = Cache().ShareCached("/data/seq", version, kPage, kPage);
  ASSERT_TRUE(slices.has_value());
  ASSERT_EQ(slices->size(), 1u);
  EXPECT_EQ((*slices)[0].bytes, src.substr(kPage, kPage));
  // (The fetcher stores the page, then counts it: wait for both.)
  for (int i = 0; i < 500 && (!pages_->Contains({file_id, 2}) ||
                              Cache().GetStats().readahead_pages == 0);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(pages_->Contains({file_id, 2}));
  EXPECT_GT(Cache().GetStats().readahead_pages, 0u);
  // A range only partly in memory is not shared, and not counted: Read serves it.
  const auto before = Cache().GetStats();
  const uint64_t store_hits = pages_->GetStats().hits;
  EXPECT_FALSE(Cache().ShareCached("/data/seq", version, 0, 20 * kPage).has_value());
  EXPECT_EQ(Cache().GetStats().page_hits, before.page_hits);
  EXPECT_EQ(pages_->GetStats().hits, store_hits);
  EXPECT_FALSE(Cache().ShareCached("/data/seq", "another-version", 0, kPage).has_value());
}

TEST_F(ReadThroughTest, ReplacedObjectIsServedNewAfterTtl) {
  UseMemory();
  fake_->Put("model.bin", std::string(1000, 'a'));
  EXPECT_EQ(MustRead("/data/model.bin", 0, 1000), std::string(1000, 'a'));
  fake_->Replace("model.bin", std::string(1000, 'b'));
  // Within the TTL the cached version is served whole: old bytes, never a mix.
  EXPECT_EQ(MustRead("/data/model.bin", 0, 1000), std::string(1000, 'a'));
  clock_.Advance(std::chrono::seconds(11));
  EXPECT_EQ(MustRead("/data/model.bin", 0, 1000), std::string(1000, 'b'));
}

TEST_F(ReadThroughTest, CachedPagesOutliveTheirStatsTtl) {
  // A stat's TTL bounds how stale a version may be, not how long its pages serve: after
  // it, the object is stat'ed (no bytes) and its cached pages are used if still current.
  UseMemory();
  const std::string src = Pattern(kPage / 2, 3);
  fake_->Put("sample", src);
  EXPECT_EQ(MustRead("/data/sample", 0, src.size()), src);
  ASSERT_EQ(fake_->CallCount(FakeOp::kRead), 1u);
  for (int round = 0; round < 3; ++round) {
    clock_.Advance(std::chrono::seconds(11));
    EXPECT_EQ(MustRead("/data/sample", 0, src.size()), src);
  }
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), 1u);  // the bytes were fetched once
  EXPECT_EQ(fake_->CallCount(FakeOp::kStat), 3u);  // one stat per expiry
  // Through the S3 path's entry point too.
  clock_.Advance(std::chrono::seconds(11));
  ASSERT_TRUE(Cache().StatForRead("/data/sample", 0, kPage).ok());
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), 1u);
  EXPECT_EQ(fake_->CallCount(FakeOp::kStat), 4u);
}

TEST_F(ReadThroughTest, AnObjectReplacedAfterItsStatExpiredIsReadNew) {
  UseMemory();
  fake_->Put("sample", std::string(1000, 'a'));
  EXPECT_EQ(MustRead("/data/sample", 0, 1000), std::string(1000, 'a'));
  fake_->Replace("sample", std::string(1000, 'b'));
  clock_.Advance(std::chrono::seconds(11));
  EXPECT_EQ(MustRead("/data/sample", 0, 1000), std::string(1000, 'b'));
  // And a metadata cache with no TTL at all still uses pages of an unchanged object.
  options_.metadata_ttl = std::chrono::seconds(0);
  cache_.reset();
  UseMemory();  // empty: not a restart over cached pages
  fake_->Put("other", std::string(1000, 'c'));
  const uint64_t reads = fake_->CallCount(FakeOp::kRead);
  EXPECT_EQ(MustRead("/data/other", 0, 1000), std::string(1000, 'c'));
  EXPECT_EQ(MustRead("/data/other", 0, 1000), std::string(1000, 'c'));
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), reads + 1);
}

TEST_F(ReadThroughTest, VersionChangeMidReadRestartsInsteadOfMixing) {
  UseMemory();
  options_.readahead_pages = 0;
  fake_->Put("obj", std::string(2 * kPage, 'a'));
  MustRead("/data/obj", 0, 10);  // caches page 0 of version a, and its stat
  fake_->Replace("obj", std::string(2 * kPage, 'b'));
  // Page 0 is cached (old), page 1 is not: the fetch of page 1 sees the new version.
  std::string got = MustRead("/data/obj", 0, 2 * kPage);
  EXPECT_EQ(got, std::string(2 * kPage, 'b'));
  EXPECT_EQ(Cache().GetStats().version_changes, 1u);
}

TEST_F(ReadThroughTest, CorruptPageFileIsDroppedAndRefetched) {
  ufs::testing::TempDir dir;
  UseDisk(dir.path());
  options_.readahead_pages = 0;
  std::string src = Pattern(kPage, 6);
  fake_->Put("obj", src);
  EXPECT_EQ(MustRead("/data/obj", 0, kPage), src);
  int corrupted = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.path())) {
    if (e.is_regular_file() && e.path().extension() == ".page") {
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(-1, std::ios::end);
      f.put('\x5a' ^ src.back());
      corrupted++;
    }
  }
  ASSERT_EQ(corrupted, 1);
  uint64_t before = fake_->CallCount(FakeOp::kRead);
  EXPECT_EQ(MustRead("/data/obj", 0, kPage), src);  // never the corrupt bytes
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), before + 1);
  EXPECT_EQ(pages_->GetStats().checksum_failures, 1u);
  EXPECT_EQ(MustRead("/data/obj", 0, kPage), src);  // refetched page is good again
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), before + 1);
}

TEST_F(ReadThroughTest, RestartKeepsDiskCacheHot) {
  ufs::testing::TempDir dir;
  std::string src = Pattern(4 * kPage, 7);
  fake_->Put("obj", src);
  UseDisk(dir.path());
  EXPECT_EQ(MustRead("/data/obj", 0, src.size()), src);
  cache_.reset();
  pages_.reset();
  // A new process: new page store over the same directory, same under-store objects.
  UseDisk(dir.path());
  uint64_t before = fake_->CallCount(FakeOp::kRead);
  EXPECT_EQ(MustRead("/data/obj", 0, src.size()), src);
  EXPECT_EQ(fake_->CallCount(FakeOp::kRead), before);
  // Small objects too: one stat each, no bytes fetched again.
  EXPECT_EQ(Cache().GetStats().ufs_bytes, 0u);
}

// A restart with another page size over the same disk cache: the old pages hold other
// byte ranges under the same indexes, and are never served for the new ones.
TEST_F(ReadThroughTest, RestartWithAnotherPageSizeNeverServesOldPages) {
  ufs::testing::TempDir dir;
  const std::string src = Pattern(5 * kPage + 100, 8);
  fake_->Put("obj", src);
  UseDisk(dir.path());
  EXPECT_EQ(MustRead("/data/obj", 0, src.size()), src);
  for (uint64_t size : {kPage / 2, 2 * kPage}) {
    cache_.reset();
    pages_.reset();
    options_.page_size = size;
    UseDisk(dir.path());
    std::mt19937 rng(9);
    for (int i = 0; i < 40; ++i) {
      const uint64_t off = rng() % src.size(), len = 1 + rng() % (2 * kPage);
      ASSERT_EQ(MustRead("/data/obj", off, len), src.substr(off, len))
          << "page size " << size << ", off " << off << ", len " << len;
    }
  }
}

TEST_F(ReadThroughTest, UnderStoreErrorsAreReportedThenRecover) {
  UseMemory();
  fake_->Put("obj", "payload");
  fake_->FailAll(FakeOp::kRead, Status::Unavailable("store down"));
  auto r = Cache().ReadRange("/data/obj", 0, 7);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  fake_->ClearFaults();
  EXPECT_EQ(MustRead("/data/obj", 0, 7), "payload");
}

TEST_F(ReadThroughTest, TruncatedBodyIsNeverServed) {
  UseMemory();
  fake_->Put("obj", Pattern(kPage, 8));
  fake_->TruncateReads(100);
  auto r = Cache().ReadRange("/data/obj", 0, kPage);
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_GE(Cache().GetStats().truncated_fetches, static_cast<uint64_t>(options_.fetch_attempts));
  fake_->ClearFaults();
  EXPECT_EQ(MustRead("/data/obj", 0, kPage), Pattern(kPage, 8));
}

TEST_F(ReadThroughTest, FullStoreDegradesToPassThrough) {
  UseMemory(2 * kPage, "none");
  options_.readahead_pages = 0;
  std::string src = Pattern(6 * kPage, 9);
  fake_->Put("big", src);
  EXPECT_EQ(MustRead("/data/big", 0, src.size()), src);
  EXPECT_EQ(MustRead("/data/big", 0, src.size()), src);
  EXPECT_GT(Cache().GetStats().store_put_failures, 0u);
}

TEST_F(ReadThroughTest, VanishedDiskDegradesToPassThrough) {
  ufs::testing::TempDir dir;
  UseDisk(dir.path());
  options_.readahead_pages = 0;
  std::string src = Pattern(2 * kPage, 10);
  fake_->Put("obj", src);
  fs::remove_all(dir.path());
  std::ofstream(dir.path()) << "not a directory any more";
  EXPECT_EQ(MustRead("/data/obj", 0, src.size()), src);
  EXPECT_GT(Cache().GetStats().store_put_failures, 0u);
}

TEST_F(ReadThroughTest, MissingObjectIsNotFoundAndNegativelyCached) {
  UseMemory();
  EXPECT_EQ(Cache().ReadRange("/data/nope", 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Cache().ReadRange("/data/nope", 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fake_->CallCount(FakeOp::kStat) + fake_->CallCount(FakeOp::kRead), 1u);
  fake_->Put("nope", "now it exists");
  clock_.Advance(std::chrono::seconds(11));
  EXPECT_EQ(MustRead("/data/nope", 0, 100), "now it exists");
}

TEST_F(ReadThroughTest, PathEscapeIsRefused) {
  UseMemory();
  EXPECT_EQ(Cache().ReadRange("/data/../../etc/passwd", 0, 1).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(Cache().ReadRange("/elsewhere/x", 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Cache().ReadRange("/data", 0, 1).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice::worker
