// Group quotas: one typed suite run against the memory, disk and tiered stores, then
// behaviour particular to one store (shards, restart, promotion).
#include "pagestore/group_quota.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "pagestore/page_store.h"
#include "pagestore/testing_util.h"

namespace sluice::pagestore {
namespace {

using testing::Key;
using testing::PageData;
using testing::TempDir;

constexpr uint64_t kCapacity = 256 * 1024;  // room for 64 pages: no capacity evictions
constexpr size_t kPage = 4096;
constexpr uint64_t kQuota = 4 * kPage;
constexpr uint32_t kGroup = 1;
constexpr uint32_t kOther = 2;

PutOptions In(uint32_t group, bool pinned = false) { return {.pinned = pinned, .group = group}; }

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
  static constexpr bool kFifo = true;     // quota evictions take the group's oldest pages
  static std::unique_ptr<PageStore> Make(const TempDir&) {
    return std::move(MakeMemoryStore({kCapacity, "s3fifo"}).value());
  }
};
struct DiskTraits {  // two directories: quota evictions cross them
  static constexpr uint64_t kCopies = 1;
  static constexpr bool kPinsOnDiskOnly = false;
  static constexpr bool kFifo = false;  // oldest first within each directory
  static std::unique_ptr<PageStore> Make(const TempDir& tmp) {
    return std::move(OpenDiskStore(TwoDirs(tmp, kCapacity)).value());
  }
};
struct TieredTraits {
  static constexpr uint64_t kCopies = 2;
  static constexpr bool kPinsOnDiskOnly = true;
  static constexpr bool kFifo = false;
  static std::unique_ptr<PageStore> Make(const TempDir& tmp) {
    return MakeTieredStore(std::move(MakeMemoryStore({kCapacity, "s3fifo"}).value()),
                           std::move(OpenDiskStore(TwoDirs(tmp, kCapacity)).value()));
  }
};

template <typename Traits>
class GroupQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = Traits::Make(tmp_); }
  Status Put(const PageKey& key, size_t size, PutOptions options, uint64_t salt = 0) {
    return store_->Put(key, PageData(key, size, salt), options);
  }
  bool Holds(const PageKey& key, size_t size, uint64_t salt = 0) {
    std::string out(size + 1, '\0');
    auto n = store_->Read(key, 0, out);
    return n && out.substr(0, *n) == PageData(key, size, salt);
  }
  TempDir tmp_;
  std::unique_ptr<PageStore> store_;
};

using StoreTypes = ::testing::Types<MemoryTraits, DiskTraits, TieredTraits>;
TYPED_TEST_SUITE(GroupQuotaTest, StoreTypes);

TYPED_TEST(GroupQuotaTest, GroupStaysWithinQuotaWhileOthersFillTheRest) {
  this->store_->SetGroupQuota(kGroup, kQuota);
  for (uint64_t i = 0; i < 40; ++i) {
    ASSERT_TRUE(this->Put(Key(1, i), kPage, In(kGroup)).ok()) << i;
    ASSERT_LE(this->store_->GroupBytes(kGroup), kQuota) << i;
  }
  EXPECT_EQ(this->store_->GroupBytes(kGroup), kQuota);
  EXPECT_TRUE(this->Holds(Key(1, 39), kPage));
  if (TypeParam::kFifo) {
    for (uint64_t i = 36; i < 40; ++i) EXPECT_TRUE(this->Holds(Key(1, i), kPage)) << i;
  }
  // Other groups take the rest of the store (and more: the store evicts as usual).
  for (uint64_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(this->Put(Key(2, i), kPage, In(kOther)).ok()) << i;
    ASSERT_TRUE(this->Put(Key(3, i), kPage, In(0)).ok()) << i;
    if (i % 4 == 0) {
      ASSERT_TRUE(this->Put(Key(1, 100 + i), kPage, In(kGroup)).ok()) << i;
    }
    ASSERT_LE(this->store_->GroupBytes(kGroup), kQuota) << i;
  }
  const PageStoreStats s = this->store_->GetStats();
  EXPECT_LE(s.bytes_used, s.capacity);
  EXPECT_GE(s.bytes_used, TypeParam::kCopies * (kCapacity - kQuota));
  EXPECT_GT(this->store_->GroupBytes(kOther), kQuota);
  EXPECT_GT(this->store_->GroupBytes(0), kQuota);
}

TYPED_TEST(GroupQuotaTest, QuotaEvictsOnlyTheGroupsOwnPages) {
  this->store_->SetGroupQuota(kGroup, kQuota);
  for (uint64_t i = 0; i < 8; ++i) ASSERT_TRUE(this->Put(Key(2, i), kPage, In(kOther)).ok());
  for (uint64_t i = 0; i < 8; ++i) ASSERT_TRUE(this->Put(Key(3, i), kPage, In(0)).ok());
  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(this->Put(Key(1, i), kPage, In(kGroup)).ok());
  for (uint64_t i = 0; i < 8; ++i) {
    EXPECT_TRUE(this->Holds(Key(2, i), kPage)) << i;
    EXPECT_TRUE(this->Holds(Key(3, i), kPage)) << i;
  }
  EXPECT_EQ(this->store_->GroupBytes(kOther), 8 * kPage);
  EXPECT_EQ(this->store_->GroupBytes(0), 8 * kPage);
  EXPECT_EQ(this->store_->GroupBytes(kGroup), kQuota);
  EXPECT_EQ(this->store_->GetStats().quota_evictions, TypeParam::kCopies * 6);
}

TYPED_TEST(GroupQuotaTest, PinnedPagesOfTheGroupAreNotEvicted) {
  this->store_->SetGroupQuota(kGroup, kQuota);
  const Hash128 pinned_file = Key(4, 0).file_id;
  for (uint64_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(this->Put(Key(4, i), kPage, In(kGroup, /*pinned=*/true)).ok());
  }
  for (uint64_t i = 0; i < 8; ++i) ASSERT_TRUE(this->Put(Key(5, i), kPage, In(kGroup)).ok());
  EXPECT_EQ(this->store_->GroupBytes(kGroup), kQuota);
  for (uint64_t i = 2; i < 4; ++i) {  // each evicts an unpinned page of the group
    ASSERT_TRUE(this->Put(Key(4, i), kPage, In(kGroup, /*pinned=*/true)).ok());
  }
  // (A tiered store's memory may evict its copies of the pinned pages instead.)
  if constexpr (!TypeParam::kPinsOnDiskOnly) {
    for (uint64_t i = 0; i < 8; ++i) EXPECT_FALSE(this->store_->Contains(Key(5, i))) << i;
  }

  // The group is all pinned: a page of it cannot come in, and nothing changes. (In a
  // tiered store the pins live on disk, which refuses it; memory's copies of pinned pages
  // stay evictable, so memory takes it.)
  const PageStoreStats before = this->store_->GetStats();
  const Status s = this->Put(Key(6, 0), kPage, In(kGroup));
  const PageStoreStats after = this->store_->GetStats();
  EXPECT_GT(after.admissions_refused, before.admissions_refused);
  if constexpr (TypeParam::kPinsOnDiskOnly) {
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(after.pinned_pages, before.pinned_pages);
  } else {
    EXPECT_TRUE(s.Is(StatusCode::kResourceExhausted)) << s.ToString();
    EXPECT_EQ(after.pages, before.pages);
    EXPECT_EQ(after.bytes_used, before.bytes_used);
    EXPECT_EQ(after.quota_evictions, before.quota_evictions);
    EXPECT_FALSE(this->store_->Contains(Key(6, 0)));
  }
  for (uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(this->Holds(Key(4, i), kPage)) << i;
  EXPECT_EQ(this->store_->GroupBytes(kGroup), kQuota);
  // Other groups are not affected.
  EXPECT_TRUE(this->Put(Key(6, 0), kPage, In(kOther)).ok());

  // Once unpinned, the group's pages make room again.
  EXPECT_EQ(this->store_->SetPinned(pinned_file, false), 4u);
  ASSERT_TRUE(this->Put(Key(6, 1), kPage, In(kGroup)).ok());
  EXPECT_EQ(this->store_->GroupBytes(kGroup), kQuota);
}

TYPED_TEST(GroupQuotaTest, PageLargerThanTheQuotaIsRefused) {
  this->store_->SetGroupQuota(kGroup, kQuota);
  ASSERT_TRUE(this->Put(Key(1, 0), kPage, In(kGroup)).ok());
  const uint64_t refused = this->store_->GetStats().admissions_refused;
  const Status s = this->Put(Key(1, 1), kQuota + 1, In(kGroup));
  EXPECT_TRUE(s.Is(StatusCode::kResourceExhausted)) << s.ToString();
  EXPECT_GT(this->store_->GetStats().admissions_refused, refused);
  EXPECT_TRUE(this->Holds(Key(1, 0), kPage));  // nothing was evicted for it
  EXPECT_EQ(this->store_->GroupBytes(kGroup), kPage);
  EXPECT_TRUE(this->Put(Key(1, 1), kQuota + 1, In(kOther)).ok());
}

TYPED_TEST(GroupQuotaTest, GroupBytesExactAfterRemoveAndRemoveFile) {
  this->store_->SetGroupQuota(kGroup, 64 * kPage);
  for (uint64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(this->Put(Key(7, i), 1000 * (i + 1), In(kGroup)).ok());
  }
  ASSERT_TRUE(this->Put(Key(8, 0), 500, In(kGroup, /*pinned=*/true)).ok());
  ASSERT_TRUE(this->Put(Key(9, 0), 700, In(kOther)).ok());
  EXPECT_EQ(this->store_->GroupBytes(kGroup), 6500u);
  EXPECT_TRUE(this->store_->Remove(Key(7, 1)));
  EXPECT_FALSE(this->store_->Remove(Key(7, 1)));
  EXPECT_EQ(this->store_->GroupBytes(kGroup), 4500u);
  EXPECT_EQ(this->store_->RemoveFile(Key(7, 0).file_id), 2u);
  EXPECT_EQ(this->store_->GroupBytes(kGroup), 500u);
  EXPECT_EQ(this->store_->RemoveFile(Key(8, 0).file_id), 1u);  // pinned pages too
  EXPECT_EQ(this->store_->GroupBytes(kGroup), 0u);
  EXPECT_EQ(this->store_->GroupBytes(kOther), 700u);
  EXPECT_EQ(this->store_->GroupBytes(42), 0u);  // never used
}

TYPED_TEST(GroupQuotaTest, ReplacingAPageMovesItsBytes) {
  const PageKey k = Key(10, 0);
  ASSERT_TRUE(this->Put(k, 1000, In(kGroup)).ok());
  EXPECT_EQ(this->store_->PageGroup(k), kGroup);
  ASSERT_TRUE(this->Put(k, 3000, In(kGroup)).ok());
  EXPECT_EQ(this->store_->GroupBytes(kGroup), 3000u);
  ASSERT_TRUE(this->Put(k, 500, In(kOther)).ok());
  EXPECT_EQ(this->store_->GroupBytes(kGroup), 0u);
  EXPECT_EQ(this->store_->GroupBytes(kOther), 500u);
  EXPECT_EQ(this->store_->PageGroup(k), kOther);
  EXPECT_FALSE(this->store_->PageGroup(Key(10, 1)).has_value());

  // At the quota, a replacement of the same size evicts nothing; a bigger one evicts
  // another page of the group, never the page itself.
  this->store_->SetGroupQuota(kGroup, kQuota);
  for (uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(this->Put(Key(11, i), kPage, In(kGroup)).ok());
  ASSERT_TRUE(this->Put(Key(11, 0), kPage, In(kGroup), /*salt=*/1).ok());
  EXPECT_EQ(this->store_->GetStats().quota_evictions, 0u);
  EXPECT_EQ(this->store_->GroupBytes(kGroup), kQuota);
  ASSERT_TRUE(this->Put(Key(11, 0), 2 * kPage, In(kGroup), /*salt=*/2).ok());
  EXPECT_EQ(this->store_->GetStats().quota_evictions, TypeParam::kCopies * 1);
  EXPECT_EQ(this->store_->GroupBytes(kGroup), kQuota);
  EXPECT_TRUE(this->Holds(Key(11, 0), 2 * kPage, /*salt=*/2));
  if (TypeParam::kFifo) {
    EXPECT_FALSE(this->store_->Contains(Key(11, 1)));
  }
  // Moving a page into a full group makes room in it too (whole pages: with several
  // directories the victim may be the 8 KiB one).
  ASSERT_TRUE(this->Put(k, kPage, In(kGroup)).ok());
  EXPECT_TRUE(this->Holds(k, kPage));
  EXPECT_LE(this->store_->GroupBytes(kGroup), kQuota);
  if (TypeParam::kFifo) {
    EXPECT_EQ(this->store_->GroupBytes(kGroup), kQuota);
  }
  EXPECT_EQ(this->store_->GroupBytes(kOther), 0u);
}

TYPED_TEST(GroupQuotaTest, ZeroQuotaMeansNoCap) {
  this->store_->SetGroupQuota(kGroup, 0);
  this->store_->SetGroupQuota(0, kPage);  // the default group cannot be capped
  for (uint64_t i = 0; i < 12; ++i) {
    ASSERT_TRUE(this->Put(Key(12, i), kPage, In(kGroup)).ok());
    ASSERT_TRUE(this->Put(Key(13, i), kPage, In(0)).ok());
  }
  EXPECT_EQ(this->store_->GroupBytes(kGroup), 12 * kPage);
  EXPECT_EQ(this->store_->GroupBytes(0), 12 * kPage);
  EXPECT_EQ(this->store_->GetStats().quota_evictions, 0u);

  // Lowering the quota evicts down to it at once; lifting it lets the group grow again.
  this->store_->SetGroupQuota(kGroup, kQuota);
  EXPECT_EQ(this->store_->GroupBytes(kGroup), kQuota);
  EXPECT_EQ(this->store_->GetStats().quota_evictions, TypeParam::kCopies * 8);
  if (TypeParam::kFifo) {
    EXPECT_TRUE(this->Holds(Key(12, 11), kPage));
  }
  this->store_->SetGroupQuota(kGroup, 0);
  for (uint64_t i = 12; i < 22; ++i) ASSERT_TRUE(this->Put(Key(12, i), kPage, In(kGroup)).ok());
  EXPECT_EQ(this->store_->GroupBytes(kGroup), kQuota + 10 * kPage);
}

TYPED_TEST(GroupQuotaTest, StatsCountQuotaEvictions) {
  this->store_->SetGroupQuota(kGroup, 2 * kPage);
  for (uint64_t i = 0; i < 6; ++i) ASSERT_TRUE(this->Put(Key(14, i), kPage, In(kGroup)).ok());
  const PageStoreStats s = this->store_->GetStats();
  EXPECT_EQ(s.quota_evictions, TypeParam::kCopies * 4);
  EXPECT_EQ(s.evictions, TypeParam::kCopies * 4);
  EXPECT_EQ(s.bytes_evicted, TypeParam::kCopies * 4 * kPage);
  EXPECT_EQ(s.pages, TypeParam::kCopies * 2);
  EXPECT_EQ(s.admissions_refused, 0u);
}

TYPED_TEST(GroupQuotaTest, ConcurrentPutsNeverExceedTheQuota) {
  this->store_->SetGroupQuota(kGroup, kQuota);
  std::atomic<bool> done{false};
  std::atomic<int> over{0};
  std::thread watcher([&] {
    while (!done.load()) {
      if (this->store_->GroupBytes(kGroup) > kQuota) ++over;
    }
  });
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 100; ++i) {
        const PageKey k = Key(15 + t % 2, i * 4 + t);
        (void)this->store_->Put(k, PageData(k, 1024 * (1 + i % 4)), In(t < 3 ? kGroup : kOther));
        if (i % 10 == 0) this->store_->Remove(Key(15, i * 4));
      }
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  watcher.join();
  EXPECT_EQ(over.load(), 0);
  EXPECT_LE(this->store_->GroupBytes(kGroup), kQuota);
  if (TypeParam::kCopies == 1) {  // the count matches what is held
    uint64_t held = 0;
    this->store_->ForEachKey([&](const PageKey& k) {
      if (this->store_->PageGroup(k) == kGroup) held += this->store_->PageSize(k).value_or(0);
    });
    EXPECT_EQ(this->store_->GroupBytes(kGroup), held);
  }
}

// The quota is store-wide, though each shard has its own lock and queues.
TEST(MemoryGroupQuotaTest, QuotaSpansShards) {
  auto store = std::move(MakeMemoryStore({256ULL << 20, "lru"}).value());  // 4 shards
  store->SetGroupQuota(kGroup, 16 * kPage);
  for (uint64_t i = 0; i < 200; ++i) {
    ASSERT_TRUE(store->Put(Key(20, i), PageData(Key(20, i), kPage), In(kGroup)).ok()) << i;
    ASSERT_LE(store->GroupBytes(kGroup), 16 * kPage);
  }
  EXPECT_EQ(store->GroupBytes(kGroup), 16 * kPage);
  EXPECT_EQ(store->GetStats().quota_evictions, 184u);
  EXPECT_EQ(store->GetStats().pages, 16u);
  EXPECT_TRUE(store->Contains(Key(20, 199)));
}

TEST(MemoryGroupQuotaTest, ConcurrentPutsAcrossShardsKeepTheCountExact) {
  auto store = std::move(MakeMemoryStore({256ULL << 20, "s3fifo"}).value());  // 4 shards
  store->SetGroupQuota(kGroup, 8 * kPage);
  std::atomic<bool> done{false};
  std::atomic<int> over{0};
  std::thread watcher([&] {
    while (!done.load()) {
      if (store->GroupBytes(kGroup) > 8 * kPage) ++over;
    }
  });
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 500; ++i) {
        const PageKey k = Key(30 + t, i % 50);
        (void)store->Put(k, PageData(k, 512 * (1 + i % 8)), In(t == 3 ? kOther : kGroup));
        if (i % 7 == 0) store->Remove(Key(30 + (t + 1) % 4, i % 50));
        if (i % 50 == 0) store->SetPinned(Key(30 + t, 0).file_id, i % 100 == 0);
      }
      store->SetPinned(Key(30 + t, 0).file_id, false);
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  watcher.join();
  EXPECT_EQ(over.load(), 0);
  uint64_t held[3] = {0, 0, 0};
  store->ForEachKey(
      [&](const PageKey& k) { held[store->PageGroup(k).value()] += store->PageSize(k).value(); });
  EXPECT_EQ(store->GroupBytes(kGroup), held[kGroup]);
  EXPECT_EQ(store->GroupBytes(kOther), held[kOther]);
  EXPECT_LE(held[kGroup], 8 * kPage);
  EXPECT_GT(store->GetStats().quota_evictions, 0u);
}

// `none` never evicts for room, but a group at its quota still makes room from its own pages.
TEST(MemoryGroupQuotaTest, QuotaMakesRoomUnderPolicyNone) {
  auto store = std::move(MakeMemoryStore({4 * kPage, "none"}).value());
  store->SetGroupQuota(kGroup, 2 * kPage);
  for (uint64_t i = 0; i < 2; ++i) ASSERT_TRUE(store->Put(Key(21, i), "xx", In(0)).ok());
  ASSERT_TRUE(store->Put(Key(21, 9), std::string(2 * kPage - 4, 'y'), In(0)).ok());
  for (uint64_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(store->Put(Key(22, i), std::string(kPage, 'z'), In(kGroup)).ok()) << i;
  }
  EXPECT_EQ(store->GroupBytes(kGroup), 2 * kPage);
  EXPECT_FALSE(store->Put(Key(23, 0), std::string(kPage, 'w'), In(kOther)).ok());  // full
}

TEST(DiskGroupQuotaTest, QuotaMakesRoomUnderPolicyNone) {
  TempDir tmp;
  auto store =
      std::move(OpenDiskStore({.dirs = {{tmp.Sub("d"), 4 * kPage}}, .eviction = "none"}).value());
  store->SetGroupQuota(kGroup, 2 * kPage);
  ASSERT_TRUE(store->Put(Key(24, 0), std::string(2 * kPage, 'x'), In(0)).ok());
  for (uint64_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(store->Put(Key(25, i), std::string(kPage, 'z'), In(kGroup)).ok()) << i;
  }
  EXPECT_EQ(store->GroupBytes(kGroup), 2 * kPage);
  EXPECT_EQ(store->GetStats().quota_evictions, 3u);
}

TEST(DiskGroupQuotaTest, RecoveredPagesJoinGroupZero) {
  TempDir tmp;
  const DiskStoreOptions options{.dirs = {{tmp.Sub("d"), 1 << 20}}};
  {
    auto store = std::move(OpenDiskStore(options).value());
    store->SetGroupQuota(kGroup, kQuota);
    for (uint64_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(store->Put(Key(26, i), PageData(Key(26, i), kPage), In(kGroup)).ok());
    }
    EXPECT_EQ(store->GroupBytes(kGroup), 3 * kPage);
  }
  auto store = std::move(OpenDiskStore(options).value());
  EXPECT_EQ(store->GroupBytes(kGroup), 0u);
  EXPECT_EQ(store->GroupBytes(0), 3 * kPage);
  EXPECT_EQ(store->PageGroup(Key(26, 0)), 0u);
  // Put again, a page rejoins its group.
  ASSERT_TRUE(store->Put(Key(26, 0), PageData(Key(26, 0), kPage), In(kGroup)).ok());
  EXPECT_EQ(store->GroupBytes(kGroup), kPage);
  EXPECT_EQ(store->GroupBytes(0), 2 * kPage);
}

TEST(TieredGroupQuotaTest, PromotedPagesKeepTheirGroup) {
  TempDir tmp;
  auto memory = std::move(MakeMemoryStore({2 * kPage, "lru"}).value());
  PageStore* memory_tier = memory.get();
  auto disk = std::move(OpenDiskStore({.dirs = {{tmp.Sub("d"), 1 << 20}}}).value());
  auto store = MakeTieredStore(std::move(memory), std::move(disk));
  store->SetGroupQuota(kGroup, 16 * kPage);
  for (uint64_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(store->Put(Key(27, i), PageData(Key(27, i), kPage), In(kGroup)).ok());
  }
  EXPECT_FALSE(memory_tier->Contains(Key(27, 0)));
  std::string buf(kPage, '\0');
  ASSERT_EQ(store->Read(Key(27, 0), 0, buf), kPage);  // promoted
  EXPECT_EQ(memory_tier->PageGroup(Key(27, 0)), kGroup);
  EXPECT_EQ(memory_tier->GroupBytes(kGroup), 2 * kPage);
  EXPECT_EQ(store->GroupBytes(kGroup), 4 * kPage);  // the larger tier's
}

}  // namespace
}  // namespace sluice::pagestore
