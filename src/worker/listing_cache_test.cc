#include "worker/listing_cache.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "ufs/fake_store.h"

namespace sluice::worker {
namespace {

using ufs::FakeOp;
using ufs::FakeStore;

class ListingCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = std::make_shared<FakeStore>();
    for (int i = 0; i < 5; ++i) fake_->Put("ds/f" + std::to_string(i), "x");
    where_.store = fake_;
    where_.mount = "data";
    opts_.prefix = "ds/";
  }
  uint64_t Lists() const { return fake_->CallCount(FakeOp::kList); }

  std::shared_ptr<FakeStore> fake_;
  ufs::Resolved where_;
  ufs::ListOptions opts_;
  FakeClock clock_;
  ListingCache cache_{std::chrono::seconds(30), 1000, &clock_};
};

TEST_F(ListingCacheTest, ConcurrentRequestsForOnePageListTheStoreOnce) {
  fake_->SetLatency(std::chrono::milliseconds(100));
  std::vector<std::thread> threads;
  std::vector<size_t> seen(16);
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&, i] {
      auto page = cache_.List(where_, opts_, "job-1");
      seen[i] = page.ok() ? page->objects.size() : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Lists(), 1u);
  for (size_t n : seen) EXPECT_EQ(n, 5u);
}

TEST_F(ListingCacheTest, ATaggedPageIsListedAfreshOnceThenShared) {
  ASSERT_TRUE(cache_.List(where_, opts_).ok());
  fake_->Put("ds/new", "y");  // behind the cache's back
  EXPECT_EQ(cache_.List(where_, opts_)->objects.size(), 5u);  // untagged: the cached page
  EXPECT_EQ(Lists(), 1u);
  EXPECT_EQ(cache_.List(where_, opts_, "job-1")->objects.size(), 6u);  // the job's: fresh
  EXPECT_EQ(cache_.List(where_, opts_, "job-1")->objects.size(), 6u);  // then shared
  EXPECT_EQ(Lists(), 2u);
}

TEST_F(ListingCacheTest, TaggedPagesOutliveAShortTtl) {
  ListingCache no_ttl(std::chrono::seconds(0), 1000, &clock_);
  ASSERT_TRUE(no_ttl.List(where_, opts_).ok());
  ASSERT_TRUE(no_ttl.List(where_, opts_).ok());
  EXPECT_EQ(Lists(), 2u);  // untagged pages are not kept with a TTL of 0
  ASSERT_TRUE(no_ttl.List(where_, opts_, "job-1").ok());
  clock_.Advance(std::chrono::seconds(59));
  ASSERT_TRUE(no_ttl.List(where_, opts_, "job-1").ok());
  EXPECT_EQ(Lists(), 3u);  // the job's members that lag still find its page
  clock_.Advance(std::chrono::seconds(2));
  ASSERT_TRUE(no_ttl.List(where_, opts_, "job-1").ok());
  EXPECT_EQ(Lists(), 4u);
}

TEST_F(ListingCacheTest, AFailedListingIsNotKept) {
  fake_->FailNthCall(FakeOp::kList, 1, Status::Unavailable("store away"));
  auto first = cache_.List(where_, opts_, "job-1");
  ASSERT_FALSE(first.ok());
  EXPECT_TRUE(first.status().Is(StatusCode::kUnavailable));
  auto second = cache_.List(where_, opts_, "job-1");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->objects.size(), 5u);
}

TEST_F(ListingCacheTest, AJobsPagesSurviveInvalidationAndAreEvictedLast) {
  ListingCache small(std::chrono::seconds(30), 3, &clock_);
  ASSERT_TRUE(small.List(where_, opts_, "job-1").ok());
  small.Invalidate("data");  // a write through this worker: the job's snapshot stays
  ASSERT_TRUE(small.List(where_, opts_, "job-1").ok());
  EXPECT_EQ(Lists(), 1u);
  for (const char* p : {"a/", "b/", "c/"}) {  // untagged pages fill the cache and go first
    ufs::ListOptions o = opts_;
    o.prefix = p;
    ASSERT_TRUE(small.List(where_, o).ok());
  }
  ASSERT_TRUE(small.List(where_, opts_, "job-1").ok());
  EXPECT_EQ(Lists(), 4u);
}

TEST_F(ListingCacheTest, InvalidateDropsPagesAndTheNextRequestListsAnew) {
  ASSERT_TRUE(cache_.List(where_, opts_).ok());
  fake_->Put("ds/new", "y");
  cache_.Invalidate("data");
  EXPECT_EQ(cache_.List(where_, opts_)->objects.size(), 6u);
  EXPECT_EQ(Lists(), 2u);
}

TEST_F(ListingCacheTest, OptionsThatJoinAlikeAreCachedApart) {
  // Joined with '\n', (prefix "x\n", no delimiter) and (prefix "x", delimiter "\n") would
  // read the same; each must get its own page.
  fake_->Put("x\ny", "1");
  fake_->Put("xz", "2");
  ufs::ListOptions a;
  a.prefix = "x\n";
  ufs::ListOptions b;
  b.prefix = "x";
  b.delimiter = "\n";
  auto first = cache_.List(where_, a);
  auto second = cache_.List(where_, b);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_EQ(first->objects.size(), 1u);
  EXPECT_EQ(first->objects[0].key, "x\ny");
  ASSERT_EQ(second->objects.size(), 1u);
  EXPECT_EQ(second->objects[0].key, "xz");
  EXPECT_EQ(second->common_prefixes, std::vector<std::string>{"x\n"});
  EXPECT_EQ(Lists(), 2u);
}

}  // namespace
}  // namespace sluice::worker
