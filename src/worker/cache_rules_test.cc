#include "worker/cache_rules.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "ufs/fake_store.h"

namespace sluice::worker {
namespace {

namespace fs = std::filesystem;
using ufs::FakeStore;

constexpr uint64_t kPage = 64 * kKiB;

class CacheRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = std::make_shared<FakeStore>();
    mounts_ = std::make_shared<ufs::MountTable>();
    ASSERT_TRUE(mounts_->Add("data", fake_->Uri(), fake_).ok());
    ASSERT_TRUE(mounts_->Add("scratch", fake_->Uri() + "-scratch", std::make_shared<FakeStore>()).ok());
    auto s = pagestore::MakeMemoryStore({16 * kPage, "lru"});
    ASSERT_TRUE(s.ok());
    pages_ = std::shared_ptr<pagestore::PageStore>(std::move(s).value());
    options_.page_size = kPage;
    options_.readahead_pages = 0;
    state_ = fs::temp_directory_path() / ("sluice-rules-" + std::to_string(::getpid()));
    fs::remove_all(state_);
  }
  void TearDown() override { fs::remove_all(state_); }

  void Start(CacheRulesConfig config) {
    config.page_size = options_.page_size;  // as the worker sets it
    rules_ = std::make_shared<CacheRules>(config, mounts_, pages_, state_.string(), &clock_);
    cache_ = std::make_unique<ReadThroughCache>(options_, mounts_, pages_, &clock_);
    cache_->SetPagePolicy(rules_);
  }

  void Read(const std::string& path) {
    auto r = cache_->ReadRange(path, 0, 1 << 30);
    ASSERT_TRUE(r.ok()) << path << ": " << r.status().ToString();
  }

  FakeClock clock_;
  CacheOptions options_;
  std::shared_ptr<FakeStore> fake_;
  std::shared_ptr<ufs::MountTable> mounts_;
  std::shared_ptr<pagestore::PageStore> pages_;
  std::shared_ptr<CacheRules> rules_;
  std::unique_ptr<ReadThroughCache> cache_;
  fs::path state_;
};

TEST(PathCoversTest, APathCoversItselfAndWhatIsBelowIt) {
  EXPECT_TRUE(PathCovers("/data/a", "/data/a"));
  EXPECT_TRUE(PathCovers("/data/a", "/data/a/b/c"));
  EXPECT_FALSE(PathCovers("/data/a", "/data/ab"));
  EXPECT_FALSE(PathCovers("/data/a/b", "/data/a"));
  EXPECT_TRUE(PathCovers("/", "/data/x"));
}

TEST_F(CacheRulesTest, PinnedPagesSurvivePressureAndUnpinLetsThemGo) {
  Start({});
  fake_->Put("keep/a", std::string(2 * kPage, 'a'));
  for (int i = 0; i < 20; ++i) fake_->Put("other/" + std::to_string(i), std::string(kPage, 'o'));
  Read("/data/keep/a");  // cached before the pin: the pin marks it
  auto marked = rules_->Pin("/data/keep");
  ASSERT_TRUE(marked.ok()) << marked.status().ToString();
  EXPECT_EQ(*marked, 2u);
  EXPECT_TRUE(rules_->Pinned("/data/keep/a"));
  EXPECT_FALSE(rules_->Pinned("/data/keeper"));
  for (int i = 0; i < 20; ++i) Read("/data/other/" + std::to_string(i));  // 20 pages into 16
  const auto before = cache_->GetStats().ufs_reads;
  Read("/data/keep/a");
  EXPECT_EQ(cache_->GetStats().ufs_reads, before);
  EXPECT_EQ(pages_->GetStats().pinned_pages, 2u);

  // A restart reads the pins back.
  CacheRules again({}, mounts_, pages_, state_.string(), &clock_);
  EXPECT_EQ(again.Pins(), std::vector<std::string>{"/data/keep"});

  ASSERT_TRUE(rules_->Unpin("/data/keep").ok());
  EXPECT_EQ(pages_->GetStats().pinned_pages, 0u);
  EXPECT_TRUE(rules_->Unpin("/data/keep").status().Is(StatusCode::kNotFound));
  EXPECT_TRUE(rules_->Pin("/").status().Is(StatusCode::kInvalidArgument));
}

TEST_F(CacheRulesTest, PagesStoredAfterAPinArePinned) {
  Start({});
  ASSERT_TRUE(rules_->Pin("/data/later").ok());
  fake_->Put("later/x", std::string(kPage + 1, 'x'));
  Read("/data/later/x");
  EXPECT_EQ(pages_->GetStats().pinned_pages, 2u);
}

TEST_F(CacheRulesTest, UnpinReleasesVersionsTheStoreNoLongerLists) {
  Start({});
  ASSERT_TRUE(rules_->Pin("/data/set").ok());
  fake_->Put("set/replaced", std::string(kPage, '1'));
  fake_->Put("set/deleted", std::string(kPage, 'd'));
  fake_->Put("set/elsewhere", std::string(kPage, 'e'));
  Read("/data/set/replaced");
  Read("/data/set/deleted");
  ASSERT_TRUE(rules_->Pin("/data/set/elsewhere").ok());  // a second pin covers this one
  Read("/data/set/elsewhere");
  EXPECT_EQ(pages_->GetStats().pinned_pages, 3u);
  // Behind the cache: one object replaced (its old pages stay cached), one deleted.
  fake_->Replace("set/replaced", std::string(kPage, '2'));
  fake_->Erase("set/deleted");
  ASSERT_TRUE(rules_->Unpin("/data/set").ok());
  // Only the page still under the other pin stays pinned.
  EXPECT_EQ(pages_->GetStats().pinned_pages, 1u);
  ASSERT_TRUE(rules_->Unpin("/data/set/elsewhere").ok());
  EXPECT_EQ(pages_->GetStats().pinned_pages, 0u);
}

// An unpin whose listing fails still releases the pages it pinned (and says it failed);
// a pin that cannot be saved is not made, and the saved list stays whole.
TEST_F(CacheRulesTest, UnpinReleasesPagesWhenTheListingFailsAndUnsavedPinsAreRefused) {
  Start({});
  fake_->Put("d/x", std::string(kPage, 'x'));
  ASSERT_TRUE(rules_->Pin("/data/d").ok());
  Read("/data/d/x");
  ASSERT_EQ(pages_->GetStats().pinned_pages, 1u);
  fake_->FailAll(ufs::FakeOp::kList, Status::Unavailable("store away"));
  fake_->FailAll(ufs::FakeOp::kStat, Status::Unavailable("store away"));
  auto unpinned = rules_->Unpin("/data/d");
  EXPECT_TRUE(unpinned.status().Is(StatusCode::kUnavailable)) << unpinned.status().ToString();
  EXPECT_EQ(pages_->GetStats().pinned_pages, 0u);
  EXPECT_TRUE(rules_->Pins().empty());
  fake_->ClearFaults();

  ASSERT_TRUE(rules_->Pin("/data/kept").ok());
  fs::create_directory(state_ / "pins.json.tmp");  // the temporary file cannot be written
  EXPECT_FALSE(rules_->Pin("/data/lost").ok());
  EXPECT_EQ(rules_->Pins(), std::vector<std::string>{"/data/kept"});
  CacheRules again({}, mounts_, pages_, state_.string(), &clock_);
  EXPECT_EQ(again.Pins(), std::vector<std::string>{"/data/kept"});
}

// A pinned object rewritten again and again (a "latest" checkpoint under a pin): only the
// newest version stays pinned; the old ones' pages become evictable (pinned, they could
// never leave the cache, and the rules kept one entry per version until unpin).
TEST_F(CacheRulesTest, ANewVersionOfAPinnedObjectReleasesTheOldOne) {
  Start({});
  ASSERT_TRUE(rules_->Pin("/data/models").ok());
  for (char v : {'1', '2', '3'}) {
    fake_->Replace("models/latest", std::string(kPage, v));
    cache_->InvalidateStat("/data/models/latest");
    Read("/data/models/latest");
    EXPECT_EQ(pages_->GetStats().pinned_pages, 1u) << "version " << v;
  }
  ASSERT_TRUE(rules_->Unpin("/data/models").ok());
  EXPECT_EQ(pages_->GetStats().pinned_pages, 0u);
}

// A pin or unpin between a store's OnStore and its puts: AfterStore puts the pages right.
TEST_F(CacheRulesTest, APinOrUnpinDuringAStoreStillTakesEffect) {
  Start({});
  auto where = mounts_->Resolve("/data/late/x");
  ASSERT_TRUE(where.ok());
  const Hash128 id = pagestore::MakeFileId(where->ObjectUri(), "v1", kPage);
  const pagestore::PutOptions unpinned = rules_->OnStore(*where, id);
  ASSERT_FALSE(unpinned.pinned);
  ASSERT_TRUE(rules_->Pin("/data/late").ok());  // marks nothing: the page is not stored yet
  ASSERT_TRUE(pages_->Put({id, 0}, std::string(100, 'x'), unpinned).ok());
  EXPECT_EQ(pages_->GetStats().pinned_pages, 0u);
  rules_->AfterStore(*where, id, unpinned);
  EXPECT_EQ(pages_->GetStats().pinned_pages, 1u);

  const pagestore::PutOptions pinned = rules_->OnStore(*where, id);
  ASSERT_TRUE(pinned.pinned);
  ASSERT_TRUE(rules_->Unpin("/data/late").ok());
  ASSERT_TRUE(pages_->Put({id, 1}, std::string(100, 'y'), pinned).ok());
  rules_->AfterStore(*where, id, pinned);
  EXPECT_EQ(pages_->GetStats().pinned_pages, 0u);
}

TEST_F(CacheRulesTest, TtlExpiresTheLongestMatchingRulesObjects) {
  CacheRulesConfig c;
  c.ttl_rules = {{"/data/tmp", std::chrono::seconds(10)}, {"/data/tmp/short", std::chrono::seconds(2)}};
  Start(c);
  fake_->Put("tmp/long", "long");
  fake_->Put("tmp/short/s", "short");
  fake_->Put("kept", "kept");
  for (auto p : {"/data/tmp/long", "/data/tmp/short/s", "/data/kept"}) Read(p);
  EXPECT_EQ(rules_->GetStats().ttl_tracked, 2u);
  clock_.Advance(std::chrono::seconds(3));
  EXPECT_EQ(rules_->Sweep(), 1u);
  EXPECT_EQ(rules_->GetStats().ttl_expired, 1u);
  clock_.Advance(std::chrono::seconds(8));
  EXPECT_EQ(rules_->Sweep(), 1u);
  EXPECT_EQ(rules_->GetStats().ttl_expired, 2u);
  EXPECT_EQ(pages_->GetStats().pages, 1u);  // /data/kept
  const auto before = cache_->GetStats().ufs_reads;
  Read("/data/tmp/long");
  EXPECT_EQ(cache_->GetStats().ufs_reads, before + 1);
}

// After a restart the recovered pages under a TTL rule expire too, timed from the
// restart (nothing stores them again, so OnStore never starts their clock).
TEST_F(CacheRulesTest, RecoveredPagesUnderATtlRuleExpireAfterARestart) {
  CacheRulesConfig c;
  c.ttl_rules = {{"/data/tmp", std::chrono::seconds(10)}};
  Start(c);
  fake_->Put("tmp/a", "a");
  fake_->Put("kept", "kept");
  Read("/data/tmp/a");
  Read("/data/kept");
  c.page_size = kPage;
  CacheRules restarted(c, mounts_, pages_, state_.string(), &clock_);  // same pages
  EXPECT_EQ(restarted.GetStats().ttl_tracked, 0u);
  restarted.ReapplyPins();
  EXPECT_EQ(restarted.GetStats().ttl_tracked, 1u);
  clock_.Advance(std::chrono::seconds(11));
  EXPECT_EQ(restarted.Sweep(), 1u);
  EXPECT_EQ(pages_->GetStats().pages, 1u);  // /data/kept
}

TEST_F(CacheRulesTest, AMountQuotaCapsOnlyThatMount) {
  CacheRulesConfig c;
  c.mount_quotas = {{"scratch", 3 * kPage}};
  Start(c);
  auto scratch = std::dynamic_pointer_cast<FakeStore>(mounts_->Resolve("/scratch/x")->store);
  ASSERT_NE(scratch, nullptr);
  for (int i = 0; i < 6; ++i) {
    scratch->Put("s" + std::to_string(i), std::string(kPage, 's'));
    fake_->Put("d" + std::to_string(i), std::string(kPage, 'd'));
  }
  for (int i = 0; i < 6; ++i) {
    Read("/scratch/s" + std::to_string(i));
    Read("/data/d" + std::to_string(i));
  }
  EXPECT_EQ(pages_->GroupBytes(rules_->GroupOf("scratch")), 3 * kPage);
  EXPECT_EQ(pages_->GetStats().bytes_used, 9 * kPage);
  EXPECT_EQ(pages_->GetStats().quota_evictions, 3u);
  EXPECT_EQ(rules_->GroupOf("data"), 0u);
}

TEST(CacheRulesConfigTest, BadRulesAreRefused) {
  CacheRulesConfig c;
  c.ttl_rules = {{"data/x", std::chrono::seconds(1)}};
  EXPECT_FALSE(c.Validate().ok());
  c.ttl_rules = {{"/data/x", std::chrono::seconds(0)}};
  EXPECT_FALSE(c.Validate().ok());
  c.ttl_rules = {};
  c.mount_quotas = {{"data", 0}};
  EXPECT_FALSE(c.Validate().ok());
}

}  // namespace
}  // namespace sluice::worker
