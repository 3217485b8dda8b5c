// Contract tests: one typed suite run against the memory, disk and tiered stores.
#include "pagestore/page_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "pagestore/testing_util.h"

namespace sluice::pagestore {
namespace {

using testing::Key;
using testing::PageData;
using testing::TempDir;

constexpr uint64_t kCapacity = 64 * 1024;
constexpr size_t kPage = 4096;

DiskStoreOptions TwoDirs(const TempDir& tmp, uint64_t capacity) {
  DiskStoreOptions o;
  o.dirs = {{tmp.Sub("d0"), capacity / 2}, {tmp.Sub("d1"), capacity / 2}};
  return o;
}

struct MemoryTraits {
  static constexpr uint64_t kCopies = 1;  // how many tiers hold a page
  // Whether pins live in one tier only (the tiered store's disk: its memory copies of
  // pinned pages stay evictable).
  static constexpr bool kPinsOnDiskOnly = false;
  static std::unique_ptr<PageStore> Make(const TempDir&) {
    return std::move(MakeMemoryStore({kCapacity, "s3fifo"}).value());
  }
};
struct DiskTraits {
  static constexpr uint64_t kCopies = 1;
  static constexpr bool kPinsOnDiskOnly = false;
  static std::unique_ptr<PageStore> Make(const TempDir& tmp) {
    return std::move(OpenDiskStore(TwoDirs(tmp, kCapacity)).value());
  }
};
struct TieredTraits {
  static constexpr uint64_t kCopies = 2;
  static constexpr bool kPinsOnDiskOnly = true;
  static std::unique_ptr<PageStore> Make(const TempDir& tmp) {
    return MakeTieredStore(std::move(MakeMemoryStore({kCapacity, "s3fifo"}).value()),
                           std::move(OpenDiskStore(TwoDirs(tmp, kCapacity)).value()));
  }
};

template <typename Traits>
class PageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = Traits::Make(tmp_); }
  std::string ReadAll(const PageKey& key, size_t size = kPage) {
    std::string out(size, '\0');
    auto n = store_->Read(key, 0, out);
    if (!n) return "<miss>";
    out.resize(*n);
    return out;
  }
  TempDir tmp_;
  std::unique_ptr<PageStore> store_;
};

using StoreTypes = ::testing::Types<MemoryTraits, DiskTraits, TieredTraits>;
TYPED_TEST_SUITE(PageStoreTest, StoreTypes);

TYPED_TEST(PageStoreTest, PutThenReadRoundTrips) {
  const PageKey k = Key(1, 0);
  ASSERT_TRUE(this->store_->Put(k, PageData(k, kPage)).ok());
  EXPECT_EQ(this->ReadAll(k), PageData(k, kPage));
  EXPECT_TRUE(this->store_->Contains(k));
  EXPECT_EQ(this->store_->PageSize(k), kPage);
}

TYPED_TEST(PageStoreTest, MissIsEmptyOptional) {
  char buf[16];
  EXPECT_FALSE(this->store_->Read(Key(1, 7), 0, buf).has_value());
  EXPECT_FALSE(this->store_->Contains(Key(1, 7)));
  EXPECT_FALSE(this->store_->PageSize(Key(1, 7)).has_value());
}

TYPED_TEST(PageStoreTest, PartialReadsAtOffsets) {
  const PageKey k = Key(1, 1);
  const std::string data = PageData(k, 1000);
  ASSERT_TRUE(this->store_->Put(k, data).ok());
  for (size_t offset : {0, 1, 100, 999}) {
    char buf[64];
    auto n = this->store_->Read(k, offset, buf);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, std::min<size_t>(64, 1000 - offset));
    EXPECT_EQ(std::string(buf, *n), data.substr(offset, *n));
  }
}

TYPED_TEST(PageStoreTest, OffsetAtOrPastEndReadsNothing) {
  const PageKey k = Key(1, 2);
  ASSERT_TRUE(this->store_->Put(k, PageData(k, 100)).ok());
  char buf[8];
  EXPECT_EQ(this->store_->Read(k, 100, buf), 0u);
  EXPECT_EQ(this->store_->Read(k, 5000, buf), 0u);
}

TYPED_TEST(PageStoreTest, PutReplacesPage) {
  const PageKey k = Key(1, 3);
  ASSERT_TRUE(this->store_->Put(k, PageData(k, kPage, 1)).ok());
  ASSERT_TRUE(this->store_->Put(k, PageData(k, 100, 2)).ok());
  EXPECT_EQ(this->ReadAll(k), PageData(k, 100, 2));
  EXPECT_EQ(this->store_->GetStats().bytes_used, TypeParam::kCopies * 100);
}

TYPED_TEST(PageStoreTest, RemoveAndRemoveFile) {
  for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(this->store_->Put(Key(1, i), "abc").ok());
  ASSERT_TRUE(this->store_->Put(Key(2, 0), "other").ok());
  EXPECT_TRUE(this->store_->Remove(Key(1, 0)));
  EXPECT_FALSE(this->store_->Remove(Key(1, 0)));
  EXPECT_EQ(this->store_->RemoveFile(Key(1, 0).file_id), 2u);
  EXPECT_FALSE(this->store_->Contains(Key(1, 1)));
  EXPECT_TRUE(this->store_->Contains(Key(2, 0)));
  EXPECT_EQ(this->store_->GetStats().pages, TypeParam::kCopies);
}

TYPED_TEST(PageStoreTest, CapacityRespectedUnderManyPuts) {
  for (uint64_t i = 0; i < 200; ++i) {
    const PageKey k = Key(3, i);
    ASSERT_TRUE(this->store_->Put(k, PageData(k, kPage)).ok()) << i;
    const PageStoreStats s = this->store_->GetStats();
    ASSERT_LE(s.bytes_used, s.capacity);
  }
  const PageStoreStats s = this->store_->GetStats();
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.capacity, TypeParam::kCopies * kCapacity);
  // Whatever is still held reads back intact.
  this->store_->ForEachKey(
      [&](const PageKey& k) { EXPECT_EQ(this->ReadAll(k), PageData(k, kPage)); });
}

TYPED_TEST(PageStoreTest, PinnedPagesAreNeverEvicted) {
  for (uint64_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(this->store_->Put(Key(4, i), PageData(Key(4, i), kPage), {.pinned = true}).ok());
  }
  for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(this->store_->Put(Key(5, i), "x").ok());
  EXPECT_EQ(this->store_->SetPinned(Key(5, 0).file_id, true), 3u);
  for (uint64_t i = 0; i < 200; ++i) {
    ASSERT_TRUE(this->store_->Put(Key(6, i), PageData(Key(6, i), kPage)).ok());
  }
  for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(this->ReadAll(Key(4, i)), PageData(Key(4, i), kPage));
  for (uint64_t i = 0; i < 3; ++i) EXPECT_TRUE(this->store_->Contains(Key(5, i)));
  constexpr uint64_t kPinnedCopies = TypeParam::kPinsOnDiskOnly ? 1 : TypeParam::kCopies;
  EXPECT_EQ(this->store_->GetStats().pinned_pages, kPinnedCopies * 7);
  EXPECT_EQ(this->store_->SetPinned(Key(5, 0).file_id, false), 3u);
  EXPECT_EQ(this->store_->GetStats().pinned_pages, kPinnedCopies * 4);
}

TYPED_TEST(PageStoreTest, AdmissionRefusedWhenEverythingPinned) {
  std::vector<PageKey> pinned;
  for (uint64_t i = 0; i < 64; ++i) {  // 4x the capacity: every directory fills up
    const PageKey k = Key(7, i);
    if (this->store_->Put(k, PageData(k, kPage), {.pinned = true}).ok()) pinned.push_back(k);
  }
  ASSERT_FALSE(pinned.empty());
  const Status s = this->store_->Put(Key(8, 0), PageData(Key(8, 0), kPage));
  EXPECT_TRUE(s.Is(StatusCode::kResourceExhausted)) << s.ToString();
  const PageStoreStats stats = this->store_->GetStats();
  EXPECT_GT(stats.admissions_refused, 0u);
  EXPECT_LE(stats.bytes_used, stats.capacity);
  EXPECT_FALSE(this->store_->Contains(Key(8, 0)));
  for (const PageKey& k : pinned) EXPECT_EQ(this->ReadAll(k), PageData(k, kPage));
}

TYPED_TEST(PageStoreTest, PageLargerThanCapacityIsRefused) {
  const Status s = this->store_->Put(Key(9, 0), std::string(kCapacity + 1, 'x'));
  EXPECT_TRUE(s.Is(StatusCode::kResourceExhausted)) << s.ToString();
  EXPECT_EQ(this->store_->GetStats().pages, 0u);
}

TYPED_TEST(PageStoreTest, StatsCountHitsMissesAndPuts) {
  const PageKey k = Key(10, 0);
  char buf[kPage];
  EXPECT_FALSE(this->store_->Read(k, 0, buf));
  ASSERT_TRUE(this->store_->Put(k, PageData(k, 1000)).ok());
  EXPECT_EQ(this->store_->Read(k, 200, buf), 800u);
  const PageStoreStats s = this->store_->GetStats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.bytes_read, 800u);
  EXPECT_EQ(s.puts, 1u);
  EXPECT_EQ(s.bytes_written, 1000u);
  EXPECT_EQ(s.pages, TypeParam::kCopies);
  EXPECT_EQ(s.bytes_used, TypeParam::kCopies * 1000);
  EXPECT_EQ(s.checksum_failures, 0u);
  EXPECT_EQ(s.io_errors, 0u);
}

TYPED_TEST(PageStoreTest, ForEachKeyVisitsEveryPageOnce) {
  std::set<PageKey> want;
  for (uint64_t i = 0; i < 5; ++i) {
    want.insert(Key(11, i));
    ASSERT_TRUE(this->store_->Put(Key(11, i), "data").ok());
  }
  std::multiset<PageKey> seen;
  this->store_->ForEachKey([&](const PageKey& k) { seen.insert(k); });
  EXPECT_EQ(std::set<PageKey>(seen.begin(), seen.end()), want);
  EXPECT_EQ(seen.size(), want.size());
}

TYPED_TEST(PageStoreTest, ConcurrentReadersAndWritersSeeWholePages) {
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string buf(kPage, '\0');
      for (uint64_t i = 0; i < 300; ++i) {
        const PageKey k = Key(12, (i * 7 + t) % 40);
        if (auto n = this->store_->Read(k, 0, buf)) {
          if (*n != kPage || buf != PageData(k, kPage)) ++bad;
        } else {
          (void)this->store_->Put(k, PageData(k, kPage));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  const PageStoreStats s = this->store_->GetStats();
  EXPECT_LE(s.bytes_used, s.capacity);
  EXPECT_EQ(s.checksum_failures, 0u);
}

}  // namespace
}  // namespace sluice::pagestore
