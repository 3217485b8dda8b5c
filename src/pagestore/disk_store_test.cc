// Disk-tier behaviour beyond the PageStore contract: corruption, restart recovery,
// quotas per directory and failing directories.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "pagestore/disk_format.h"
#include "pagestore/page_store.h"
#include "pagestore/testing_util.h"

namespace sluice::pagestore {
namespace {

namespace fs = std::filesystem;
using testing::Key;
using testing::PageData;
using testing::PageFiles;
using testing::TempDir;

constexpr size_t kPage = 4096;

class DiskStoreTest : public ::testing::Test {
 protected:
  DiskStoreOptions Options(uint64_t quota0 = 64 * 1024, uint64_t quota1 = 64 * 1024) {
    DiskStoreOptions o;
    o.dirs = {{tmp_.Sub("d0"), quota0}, {tmp_.Sub("d1"), quota1}};
    return o;
  }
  std::unique_ptr<PageStore> Open(const DiskStoreOptions& o) {
    auto store = OpenDiskStore(o);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::string PathOf(const PageKey& key) {
    for (const auto& f : PageFiles(tmp_.path())) {
      if (fs::path(f).filename() == PageFileName(key)) return f;
    }
    return "";
  }
  TempDir tmp_;
};

TEST_F(DiskStoreTest, DropsCorruptPageAndReportsMiss) {
  auto store = Open(Options());
  const PageKey k = Key(1, 0);
  ASSERT_TRUE(store->Put(k, PageData(k, kPage)).ok());
  const std::string path = PathOf(k);
  ASSERT_FALSE(path.empty());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(kPageHeaderSize + 100);
    f.put('\x5a' ^ PageData(k, kPage)[100]);
  }
  char buf[kPage];
  EXPECT_FALSE(store->Read(k, 0, buf).has_value());
  EXPECT_EQ(store->GetStats().checksum_failures, 1u);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(store->Contains(k));
  EXPECT_EQ(store->GetStats().bytes_used, 0u);
}

TEST_F(DiskStoreTest, CorruptHeaderIsDroppedOnRecovery) {
  const PageKey k = Key(1, 1);
  {
    auto store = Open(Options());
    ASSERT_TRUE(store->Put(k, PageData(k, kPage)).ok());
  }
  const std::string path = PathOf(k);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);  // inside the page index field: the header checksum no longer matches
    f.put('\x7f');
  }
  auto store = Open(Options());
  EXPECT_FALSE(store->Contains(k));
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(DiskStoreTest, RecoversPagesAfterRestart) {
  uint64_t used = 0;
  {
    auto store = Open(Options());
    for (uint64_t i = 0; i < 10; ++i)
      ASSERT_TRUE(store->Put(Key(2, i), PageData(Key(2, i), kPage)).ok());
    ASSERT_TRUE(store->Put(Key(2, 10), PageData(Key(2, 10), 123)).ok());
    used = store->GetStats().bytes_used;
  }
  auto store = Open(Options());
  const PageStoreStats s = store->GetStats();
  EXPECT_EQ(s.pages, 11u);
  EXPECT_EQ(s.bytes_used, used);
  std::string buf(kPage, '\0');
  for (uint64_t i = 0; i < 10; ++i) {
    ASSERT_EQ(store->Read(Key(2, i), 0, buf), kPage);
    EXPECT_EQ(buf, PageData(Key(2, i), kPage));
  }
  EXPECT_EQ(store->PageSize(Key(2, 10)), 123u);
}

TEST_F(DiskStoreTest, PlacementSurvivesReorderingDirectories) {
  {
    auto store = Open(Options());
    for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(store->Put(Key(3, i), "x").ok());
  }
  DiskStoreOptions reordered = Options();
  std::swap(reordered.dirs[0], reordered.dirs[1]);
  auto store = Open(reordered);
  EXPECT_EQ(store->GetStats().pages, 10u);
  for (uint64_t i = 0; i < 10; ++i) EXPECT_TRUE(store->Contains(Key(3, i)));
}

TEST_F(DiskStoreTest, IgnoresTornTempFilesOnRecovery) {
  const PageKey k = Key(4, 0);
  {
    auto store = Open(Options());
    ASSERT_TRUE(store->Put(k, PageData(k, kPage)).ok());
  }
  // A crash between write and rename leaves a temp file (here: half a page).
  const std::string dir = fs::path(PathOf(k)).parent_path().string();
  const PageKey torn = Key(4, 1);
  const std::string tmp = dir + "/" + TempFileName(torn, 99);
  std::ofstream(tmp) << PageData(torn, kPage / 2);
  auto store = Open(Options());
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_FALSE(store->Contains(torn));
  EXPECT_TRUE(store->Contains(k));
  EXPECT_EQ(store->GetStats().pages, 1u);
}

TEST_F(DiskStoreTest, TruncatedPageFileIsDropped) {
  const PageKey a = Key(5, 0), b = Key(5, 1);
  {
    auto store = Open(Options());
    ASSERT_TRUE(store->Put(a, PageData(a, kPage)).ok());
    ASSERT_TRUE(store->Put(b, PageData(b, kPage)).ok());
    // Truncated under a running store: the read fails its check.
    ASSERT_EQ(::truncate(PathOf(a).c_str(), kPageHeaderSize + 10), 0);
    char buf[kPage];
    EXPECT_FALSE(store->Read(a, 0, buf).has_value());
    EXPECT_EQ(store->GetStats().checksum_failures, 1u);
    EXPECT_FALSE(store->Contains(a));
    // Grown to 1 GiB (sparse) under it: a miss, without reading a gigabyte into memory.
    ASSERT_TRUE(store->Put(a, PageData(a, kPage)).ok());
    ASSERT_EQ(::truncate(PathOf(a).c_str(), off_t{1} << 30), 0);
    EXPECT_FALSE(store->Read(a, 1, std::span<char>(buf, 10)).has_value());
    EXPECT_EQ(store->GetStats().checksum_failures, 2u);
  }
  // Truncated while stopped: recovery (headers and sizes only) drops it.
  const std::string path_b = PathOf(b);
  ASSERT_EQ(::truncate(path_b.c_str(), kPageHeaderSize + 10), 0);
  auto store = Open(Options());
  EXPECT_FALSE(store->Contains(b));
  EXPECT_FALSE(fs::exists(path_b));
  EXPECT_EQ(store->GetStats().pages, 0u);
}

TEST_F(DiskStoreTest, QuotaPerDirectory) {
  auto store = Open(Options(16 * 1024, 48 * 1024));
  for (uint64_t i = 0; i < 200; ++i)
    ASSERT_TRUE(store->Put(Key(6, i), PageData(Key(6, i), kPage)).ok());
  auto dir_bytes = [&](const std::string& dir) {
    uint64_t total = 0;
    for (const auto& f : PageFiles(dir)) total += fs::file_size(f) - kPageHeaderSize;
    return total;
  };
  const uint64_t d0 = dir_bytes(tmp_.Sub("d0")), d1 = dir_bytes(tmp_.Sub("d1"));
  EXPECT_LE(d0, 16 * 1024u);
  EXPECT_LE(d1, 48 * 1024u);
  EXPECT_GT(d0, 0u);
  EXPECT_GT(d1, d0);  // placement is weighted by quota
  const PageStoreStats s = store->GetStats();
  EXPECT_EQ(s.bytes_used, d0 + d1);
  EXPECT_EQ(s.capacity, 64 * 1024u);
}

TEST_F(DiskStoreTest, ReopenWithSmallerQuotaEvictsDown) {
  {
    auto store = Open(Options());
    for (uint64_t i = 0; i < 20; ++i)
      ASSERT_TRUE(store->Put(Key(7, i), PageData(Key(7, i), kPage)).ok());
  }
  auto store = Open(Options(8 * 1024, 8 * 1024));
  const PageStoreStats s = store->GetStats();
  EXPECT_LE(s.bytes_used, 16 * 1024u);
  EXPECT_EQ(PageFiles(tmp_.path()).size(), s.pages);
}

TEST_F(DiskStoreTest, SecondOpenOfTheSameDirectoryIsRefused) {
  auto first = Open(Options());
  auto second = OpenDiskStore(Options());
  EXPECT_TRUE(second.status().Is(StatusCode::kFailedPrecondition)) << second.status().ToString();
}

TEST_F(DiskStoreTest, InvalidOptionsAreRejected) {
  EXPECT_TRUE(OpenDiskStore({}).status().Is(StatusCode::kInvalidArgument));
  DiskStoreOptions o = Options();
  o.eviction = "random";
  EXPECT_TRUE(OpenDiskStore(o).status().Is(StatusCode::kInvalidArgument));
  o = Options();
  o.dirs[1].path = o.dirs[0].path + "/";
  EXPECT_TRUE(OpenDiskStore(o).status().Is(StatusCode::kInvalidArgument));
}

TEST_F(DiskStoreTest, FailingDirectoryIsReportedNotFatal) {
  auto store = Open(Options());
  for (uint64_t i = 0; i < 8; ++i) ASSERT_TRUE(store->Put(Key(8, i), "data").ok());
  // Tests run as root, so permissions cannot stop writes: replace d0 by a plain file.
  const std::string d0 = tmp_.Sub("d0");
  std::vector<PageKey> lost, kept;
  for (uint64_t i = 0; i < 8; ++i) {
    (PathOf(Key(8, i)).starts_with(d0 + "/") ? lost : kept).push_back(Key(8, i));
  }
  ASSERT_FALSE(lost.empty());
  ASSERT_FALSE(kept.empty());
  fs::remove_all(d0);
  std::ofstream(d0) << "not a directory";

  char buf[16];
  for (const PageKey& k : lost) EXPECT_FALSE(store->Read(k, 0, buf).has_value());
  for (const PageKey& k : kept) EXPECT_EQ(store->Read(k, 0, buf), 4u);
  EXPECT_GE(store->GetStats().io_errors, lost.size());
  const Status s = store->Put(lost[0], "again");
  EXPECT_TRUE(s.Is(StatusCode::kIoError)) << s.ToString();
  EXPECT_FALSE(store->Contains(lost[0]));
  EXPECT_TRUE(store->Put(kept[0], "still fine").ok());
  EXPECT_EQ(store->GetStats().pages, kept.size());
}

}  // namespace
}  // namespace sluice::pagestore
