// Tiered store behaviour beyond the PageStore contract.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pagestore/page_store.h"
#include "pagestore/testing_util.h"

namespace sluice::pagestore {
namespace {

using testing::Key;
using testing::PageData;
using testing::TempDir;

// Minimum sizes of 0 for `n` pages.
std::vector<uint64_t> Need(size_t n) { return std::vector<uint64_t>(n, 0); }

// A memory tier of `memory` over a 1 MiB disk tier in `tmp`/d.
std::unique_ptr<PageStore> Tiered(TempDir& tmp, const MemoryStoreOptions& memory) {
  return MakeTieredStore(std::move(MakeMemoryStore(memory).value()),
                         std::move(OpenDiskStore({.dirs = {{tmp.Sub("d"), 1 << 20}}}).value()));
}

TEST(TieredStoreTest, PromotesDiskHitsToMemory) {
  TempDir tmp;
  auto store = Tiered(tmp, {8 * 1024, "lru"});
  for (uint64_t i = 0; i < 4; ++i)
    ASSERT_TRUE(store->Put(Key(1, i), PageData(Key(1, i), 4096)).ok());
  // Memory holds the last two pages; page 0 comes from disk and is promoted.
  char buf[100];
  ASSERT_EQ(store->Read(Key(1, 0), 10, buf), 100u);
  EXPECT_EQ(std::string(buf, 100), PageData(Key(1, 0), 4096).substr(10, 100));
  // Proof of promotion: with the disk copy gone, the page is still served.
  for (const auto& f : testing::PageFiles(tmp.path())) {
    if (std::filesystem::path(f).filename().string().ends_with("-0.page")) {
      std::filesystem::remove(f);
    }
  }
  ASSERT_EQ(store->Read(Key(1, 0), 0, buf), 100u);
  EXPECT_EQ(std::string(buf, 100), PageData(Key(1, 0), 4096).substr(0, 100));
  EXPECT_EQ(store->GetStats().hits, 2u);
  EXPECT_EQ(store->GetStats().misses, 0u);
}

TEST(TieredStoreTest, SharesPagesOnlyWhenAllAreInMemory) {
  TempDir tmp;
  auto store = Tiered(tmp, {8 * 1024, "lru"});
  for (uint64_t i = 0; i < 3; ++i)
    ASSERT_TRUE(store->Put(Key(3, i), PageData(Key(3, i), 4096)).ok());
  // Memory holds pages 1 and 2; page 0 is on disk only, page 9 nowhere.
  const PageKey both[] = {Key(3, 2), Key(3, 1)};
  auto pages = store->ShareIfInMemory(both, Need(2), 100);
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(*pages[0], PageData(Key(3, 2), 4096));
  EXPECT_EQ(*pages[1], PageData(Key(3, 1), 4096));
  // All or nothing, and nothing counted: not in memory is not a miss here (the caller
  // reads it elsewhere), and the page that was there is not credited an access.
  const PageKey with_disk[] = {Key(3, 2), Key(3, 0)};
  EXPECT_TRUE(store->ShareIfInMemory(with_disk, Need(2), 100).empty());
  const PageKey nowhere[] = {Key(3, 9)};
  EXPECT_TRUE(store->ShareIfInMemory(nowhere, Need(1), 100).empty());
  PageStoreStats s = store->GetStats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.bytes_read, 100u);
  EXPECT_EQ(s.misses, 0u);
  // LRU order is 2 (older), then 1: the failed share did not touch 2, so it goes first.
  ASSERT_TRUE(store->Put(Key(3, 3), PageData(Key(3, 3), 4096)).ok());
  const PageKey two[] = {Key(3, 2)}, one[] = {Key(3, 1)};
  EXPECT_TRUE(store->ShareIfInMemory(two, Need(1), 1).empty());
  EXPECT_EQ(store->ShareIfInMemory(one, Need(1), 1).size(), 1u);
  // A page shorter than the caller needs is not shared (nor counted).
  const uint64_t too_long[] = {4097};
  const uint64_t hits = store->GetStats().hits;
  EXPECT_TRUE(store->ShareIfInMemory(one, too_long, 1).empty());
  EXPECT_EQ(store->GetStats().hits, hits);
  // The shared buffers outlive their pages' eviction (a reader may still be sending them).
  EXPECT_EQ(*pages[0], PageData(Key(3, 2), 4096));
}

TEST(TieredStoreTest, DiskFailureDegradesToMemory) {
  TempDir tmp;
  auto store = Tiered(tmp, {1 << 20, "s3fifo"});
  ASSERT_TRUE(store->Put(Key(2, 0), "before").ok());
  std::filesystem::remove_all(tmp.Sub("d"));
  std::ofstream(tmp.Sub("d")) << "the disk is gone";

  const PageKey k = Key(2, 1);
  EXPECT_TRUE(store->Put(k, PageData(k, 4096)).ok());  // memory keeps it
  std::string buf(4096, '\0');
  ASSERT_EQ(store->Read(k, 0, buf), 4096u);
  EXPECT_EQ(buf, PageData(k, 4096));
  const PageStoreStats s = store->GetStats();
  EXPECT_GE(s.io_errors, 1u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_TRUE(store->Contains(Key(2, 0)));  // still in memory
}

// A page the disk did not take (it failed) lives in memory only: a pin made afterwards
// must hold it there, or memory pressure evicts pinned data.
TEST(TieredStoreTest, PinningAPageHeldOnlyInMemoryPinsItThere) {
  TempDir tmp;
  auto store = Tiered(tmp, {8 * 1024, "lru"});
  std::filesystem::remove_all(tmp.Sub("d"));
  std::ofstream(tmp.Sub("d")) << "the disk is gone";
  const PageKey k = Key(7, 0);
  ASSERT_TRUE(store->Put(k, PageData(k, 4096)).ok());
  EXPECT_EQ(store->SetPinned(k.file_id, true), 1u);
  for (uint64_t i = 0; i < 4; ++i) (void)store->Put(Key(8, i), PageData(Key(8, i), 4096));
  EXPECT_TRUE(store->Contains(k));
  EXPECT_EQ(store->SetPinned(k.file_id, false), 1u);
}

TEST(TieredStoreTest, RefusedByMemoryStillServedFromDisk) {
  TempDir tmp;
  auto store = Tiered(tmp, {4096, "none"});
  ASSERT_TRUE(store->Put(Key(3, 0), std::string(4096, 'a')).ok());
  ASSERT_TRUE(store->Put(Key(3, 1), std::string(4096, 'b')).ok());  // memory full: disk only
  char c;
  ASSERT_EQ(store->Read(Key(3, 1), 0, std::span<char>(&c, 1)), 1u);
  EXPECT_EQ(c, 'b');
}

TEST(TieredStoreTest, PinnedPagesLargerThanMemoryArePinnedOnDiskOnly) {
  TempDir tmp;
  auto store = Tiered(tmp, {8 * 1024, "lru"});
  for (uint64_t i = 0; i < 4; ++i) {  // 16 KiB pinned, twice the memory tier
    ASSERT_TRUE(store->Put(Key(4, i), PageData(Key(4, i), 4096), {.pinned = true}).ok());
  }
  // Memory still takes (and serves) other pages: its copies of pinned ones are evictable.
  const PageKey other = Key(5, 0);
  ASSERT_TRUE(store->Put(other, PageData(other, 4096)).ok());
  const PageKey keys[] = {other};
  EXPECT_EQ(store->ShareIfInMemory(keys, Need(1), 4096).size(), 1u);
  // Every pinned page is still held, pinned, on disk.
  for (uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(store->Contains(Key(4, i))) << i;
  EXPECT_EQ(store->GetStats().pinned_pages, 4u);
  // Pinning pages already held pins them on disk, not in memory.
  EXPECT_EQ(store->SetPinned(Key(5, 0).file_id, true), 1u);
  ASSERT_TRUE(store->Put(Key(6, 0), PageData(Key(6, 0), 4096)).ok());
  ASSERT_TRUE(store->Put(Key(6, 1), PageData(Key(6, 1), 4096)).ok());
  const PageKey newest[] = {Key(6, 0), Key(6, 1)};
  EXPECT_EQ(store->ShareIfInMemory(newest, Need(2), 8192).size(), 2u);
  EXPECT_TRUE(store->Contains(other));  // on disk, pinned
}

}  // namespace
}  // namespace sluice::pagestore
