#include "placement/placement.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "common/hash.h"

namespace sluice::placement {
namespace {

const char* const kPolicies[] = {"maglev", "ketama", "jump"};

std::string WorkerId(int i) { return fmt::format("worker-{:03d}", i); }

std::vector<std::string> WorkerIds(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(WorkerId(i));
  return ids;
}

std::vector<Member> Workers(int n) {
  std::vector<Member> members;
  for (const std::string& id : WorkerIds(n)) members.push_back({id, "http://" + id});
  return members;
}

RingSettings WithPolicy(std::string policy) {
  RingSettings s;
  s.policy = std::move(policy);
  return s;
}

std::shared_ptr<const Placement> MustCreate(RingSettings settings, std::vector<Member> members) {
  auto p = Placement::Create(std::move(settings), std::move(members));
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : nullptr;
}

std::vector<std::string> OwnerIds(const Placement& p, std::string_view path, uint64_t block = 0,
                                  size_t extra = 0) {
  std::vector<std::string> ids;
  for (const Member* m : p.Owners(path, block, extra)) ids.push_back(m->id);
  return ids;
}

// ---- RingSettings ----

TEST(RingSettingsTest, DefaultsAreValid) {
  for (const char* policy : kPolicies) EXPECT_TRUE(WithPolicy(policy).Validate().ok()) << policy;
}

TEST(RingSettingsTest, RejectsInvalidFields) {
  auto invalid = [](auto mutate) {
    RingSettings s;
    mutate(s);
    Status st = s.Validate();
    EXPECT_TRUE(st.Is(StatusCode::kInvalidArgument)) << st.ToString();
    return st.message();
  };
  EXPECT_NE(invalid([](RingSettings& s) { s.policy = "rendezvous"; }).find("rendezvous"),
            std::string::npos);
  invalid([](RingSettings& s) { s.block_size = kMiB - 1; });
  invalid([](RingSettings& s) { s.replicas = 0; });
  invalid([](RingSettings& s) { s.replicas = 17; });
  invalid([](RingSettings& s) { s.virtual_points = 65536; });  // maglev: not a prime
  invalid([](RingSettings& s) { s.virtual_points = 1; });
  invalid([](RingSettings& s) {
    s.policy = "jump";
    s.virtual_points = 160;
  });
  invalid([](RingSettings& s) {
    s.policy = "ketama";
    s.virtual_points = 1000000;
  });
  invalid([](RingSettings& s) { s.replica_rules = {{"models/", 2}}; });
  invalid([](RingSettings& s) { s.replica_rules = {{"/models/", 0}}; });
  invalid([](RingSettings& s) { s.replica_rules = {{"/a/", 2}, {"/b/", 3}, {"/a/", 3}}; });
}

TEST(RingSettingsTest, AcceptsPrimeMaglevTableAndAnyKetamaPoints) {
  RingSettings s;
  s.virtual_points = 65537;
  EXPECT_TRUE(s.Validate().ok());
  s.policy = "ketama";
  s.virtual_points = 100;
  EXPECT_TRUE(s.Validate().ok());
}

TEST(RingSettingsTest, FingerprintIsSixteenHexDigitsAndStable) {
  RingSettings a, b;
  std::string fp = a.Fingerprint();
  EXPECT_EQ(fp.size(), 16u);
  EXPECT_EQ(fp.find_first_not_of("0123456789abcdef"), std::string::npos) << fp;
  EXPECT_EQ(fp, b.Fingerprint());
}

TEST(RingSettingsTest, FingerprintResolvesDefaultsAndIgnoresRuleOrder) {
  RingSettings a, b;
  b.virtual_points = 1048573;  // maglev's default table size
  EXPECT_EQ(a.Fingerprint(), b.Fingerprint());
  RingSettings k1 = WithPolicy("ketama"), k2 = WithPolicy("ketama");
  k2.virtual_points = 160;
  EXPECT_EQ(k1.Fingerprint(), k2.Fingerprint());

  a.replica_rules = {{"/a/", 2}, {"/b/", 3}};
  b.replica_rules = {{"/b/", 3}, {"/a/", 2}};
  EXPECT_EQ(a.Fingerprint(), b.Fingerprint());
}

TEST(RingSettingsTest, FingerprintChangesWithEveryField) {
  RingSettings base;
  base.replica_rules = {{"/a/", 2}};
  const std::vector<void (*)(RingSettings&)> changes = {
      [](RingSettings& s) { s.policy = "ketama"; },
      [](RingSettings& s) { s.virtual_points = 65537; },
      [](RingSettings& s) { s.block_size *= 2; },
      [](RingSettings& s) { s.replicas = 2; },
      [](RingSettings& s) { s.replica_rules[0].prefix = "/b/"; },
      [](RingSettings& s) { s.replica_rules[0].replicas = 3; },
      [](RingSettings& s) {
        s.replica_rules.push_back({"/c/", 2});
      },
      [](RingSettings& s) { s.replica_rules.clear(); },
  };
  std::set<std::string> seen = {base.Fingerprint()};
  for (auto change : changes) {
    RingSettings s = base;
    change(s);
    EXPECT_TRUE(seen.insert(s.Fingerprint()).second) << "collision after change " << seen.size();
  }
}

// ---- MakeRing ----

TEST(MakeRingTest, RejectsBadMemberLists) {
  for (const char* policy : kPolicies) {
    EXPECT_FALSE(MakeRing(WithPolicy(policy), {}).ok()) << policy;
    EXPECT_FALSE(MakeRing(WithPolicy(policy), {"a", "b", "a"}).ok()) << policy;
    EXPECT_FALSE(MakeRing(WithPolicy(policy), {"a", ""}).ok()) << policy;
  }
  EXPECT_FALSE(MakeRing(WithPolicy("bogus"), {"a"}).ok());
  RingSettings tiny;
  tiny.virtual_points = 3;  // a 3-slot maglev table cannot hold 4 members
  EXPECT_FALSE(MakeRing(tiny, {"a", "b", "c", "d"}).ok());
  EXPECT_TRUE(MakeRing(tiny, {"a", "b", "c"}).ok());
}

TEST(MakeRingTest, MaglevAndKetamaDoNotDependOnIdOrder) {
  std::vector<std::string> ids = WorkerIds(10), shuffled = ids;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  for (const char* policy : {"maglev", "ketama"}) {
    RingSettings s = WithPolicy(policy);
    if (s.policy == "maglev") s.virtual_points = 65537;  // keeps the test quick
    auto a = MakeRing(s, ids), b = MakeRing(s, shuffled);
    ASSERT_TRUE(a.ok() && b.ok());
    for (uint64_t k = 0; k < 2000; ++k) {
      std::vector<uint32_t> oa, ob;
      (*a)->Owners(Hash64(std::to_string(k)), 3, &oa);
      (*b)->Owners(Hash64(std::to_string(k)), 3, &ob);
      ASSERT_EQ(oa.size(), 3u);
      for (size_t i = 0; i < 3; ++i) ASSERT_EQ(ids[oa[i]], shuffled[ob[i]]) << policy << " " << k;
    }
  }
}

TEST(MakeRingTest, OwnersAppendsToOutput) {
  auto ring = MakeRing(WithPolicy("ketama"), {"a", "b", "c"});
  ASSERT_TRUE(ring.ok());
  std::vector<uint32_t> out = {7};
  (*ring)->Owners(42, 2, &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], 7u);
  EXPECT_NE(out[1], out[2]);
  EXPECT_EQ((*ring)->size(), 3u);
}

// ---- Placement ----

TEST(PlacementTest, CreateSortsMembersAndFindsById) {
  std::vector<Member> members = Workers(5);
  std::reverse(members.begin(), members.end());
  auto p = MustCreate({}, members);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->members(), Workers(5));
  ASSERT_NE(p->Find("worker-003"), nullptr);
  EXPECT_EQ(p->Find("worker-003")->endpoint, "http://worker-003");
  EXPECT_EQ(p->Find("worker-009"), nullptr);
  EXPECT_EQ(p->Find(""), nullptr);
  EXPECT_EQ(p->fingerprint(), RingSettings().Fingerprint());
}

TEST(PlacementTest, CreateRejectsInvalidSettingsAndMembers) {
  RingSettings bad;
  bad.replicas = 0;
  EXPECT_FALSE(Placement::Create(bad, Workers(3)).ok());
  EXPECT_FALSE(Placement::Create({}, {}).ok());
  std::vector<Member> dup = Workers(3);
  dup.push_back(dup[1]);
  EXPECT_FALSE(Placement::Create({}, dup).ok());
}

TEST(PlacementTest, BlockKeysAndBlockOf) {
  EXPECT_EQ(Placement::BlockKey("/m/a/b", 0), "/m/a/b");
  EXPECT_EQ(Placement::BlockKey("/m/a/b", 12), "/m/a/b#12");
  auto p = MustCreate({}, Workers(2));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->BlockOf(0), 0u);
  EXPECT_EQ(p->BlockOf(64 * kMiB - 1), 0u);
  EXPECT_EQ(p->BlockOf(64 * kMiB), 1u);
}

TEST(PlacementTest, ReplicasForTakesTheLongestMatchingPrefix) {
  RingSettings s;
  s.replicas = 2;
  s.replica_rules = {{"/models/", 3}, {"/models/big/", 5}, {"/tmp/", 1}};
  auto p = MustCreate(s, Workers(8));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->ReplicasFor("/data/x"), 2);
  EXPECT_EQ(p->ReplicasFor("/models/a"), 3);
  EXPECT_EQ(p->ReplicasFor("/models/big/b"), 5);
  EXPECT_EQ(p->ReplicasFor("/models/bigger"), 3);
  EXPECT_EQ(p->ReplicasFor("/tmp/t"), 1);
  EXPECT_EQ(p->ReplicasFor("/models"), 2);  // the prefix is matched as a string
  EXPECT_EQ(p->Owners("/models/big/b").size(), 5u);
  EXPECT_EQ(p->Owners("/tmp/t").size(), 1u);
}

class PlacementPolicyTest : public testing::TestWithParam<std::string> {
 protected:
  RingSettings Settings() const { return WithPolicy(GetParam()); }
};

TEST_P(PlacementPolicyTest, SameOwnersWhateverTheInputOrder) {
  std::vector<Member> members = Workers(12), shuffled = members;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(1));
  auto a = MustCreate(Settings(), members), b = MustCreate(Settings(), shuffled);
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 1000; ++i) {
    std::string path = fmt::format("/m/dir/file-{}", i);
    ASSERT_EQ(OwnerIds(*a, path, i % 3, 2), OwnerIds(*b, path, i % 3, 2)) << path;
  }
}

TEST_P(PlacementPolicyTest, OwnersAreDistinctAndCappedAtClusterSize) {
  RingSettings s = Settings();
  s.replicas = 3;
  auto p = MustCreate(s, Workers(5));
  ASSERT_TRUE(p);
  for (int i = 0; i < 500; ++i) {
    std::string path = fmt::format("/f{}", i);
    std::vector<std::string> three = OwnerIds(*p, path);
    ASSERT_EQ(three.size(), 3u);
    std::vector<std::string> all = OwnerIds(*p, path, 0, 10);
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 5u);
    // The failover order extends the replica list.
    EXPECT_TRUE(std::equal(three.begin(), three.end(), all.begin())) << path;
  }
  auto one = MustCreate(s, Workers(1));
  ASSERT_TRUE(one);
  EXPECT_EQ(OwnerIds(*one, "/x", 0, 4), std::vector<std::string>{"worker-000"});
}

TEST_P(PlacementPolicyTest, BlocksOfALargeFileSpreadOverTheCluster) {
  auto p = MustCreate(Settings(), Workers(16));
  ASSERT_TRUE(p);
  std::map<std::string, int> blocks;
  const int kBlocks = 1600;  // a 100 GiB file in 64 MiB blocks
  for (int b = 0; b < kBlocks; ++b) blocks[OwnerIds(*p, "/m/huge.bin", b)[0]]++;
  EXPECT_EQ(blocks.size(), 16u);
  for (const auto& [id, n] : blocks) EXPECT_LT(n, 2 * kBlocks / 16) << id;
}

INSTANTIATE_TEST_SUITE_P(Policies, PlacementPolicyTest,
                         testing::Values("maglev", "ketama", "jump"));

// ---- Acceptance: balance and movement over 1,000,000 keys ----

// The placement keys of a million small files, hashed once for every ring below.
const std::vector<uint64_t>& MillionKeyHashes() {
  static const std::vector<uint64_t> hashes = [] {
    std::vector<uint64_t> h(1'000'000);
    for (size_t i = 0; i < h.size(); ++i) h[i] = Hash64(fmt::format("/data/set/obj-{}", i));
    return h;
  }();
  return hashes;
}

// The primary owner's id of every key, on a ring over `ids` built as Placement builds it
// (ids sorted).
std::vector<const std::string*> Primaries(const std::string& policy,
                                          std::vector<std::string>* ids) {
  std::sort(ids->begin(), ids->end());
  auto ring = MakeRing(WithPolicy(policy), *ids);
  EXPECT_TRUE(ring.ok()) << ring.status().ToString();
  std::vector<const std::string*> owners;
  if (!ring.ok()) return owners;
  owners.reserve(MillionKeyHashes().size());
  std::vector<uint32_t> out;
  for (uint64_t h : MillionKeyHashes()) {
    out.clear();
    (*ring)->Owners(h, 1, &out);
    owners.push_back(&(*ids)[out[0]]);
  }
  return owners;
}

double MaxOverMean(const std::vector<const std::string*>& owners, size_t members) {
  std::map<std::string_view, size_t> load;
  for (const std::string* id : owners) load[*id]++;
  size_t max = 0;
  for (const auto& [id, n] : load) max = std::max(max, n);
  return static_cast<double>(max) * static_cast<double>(members) /
         static_cast<double>(owners.size());
}

TEST(PlacementAcceptanceTest, MaglevBalancesSixtyFourWorkersWithinFivePercent) {
  const double bound[] = {1.05, 1.50, 1.10};  // maglev is the acceptance bound; others: sanity
  for (size_t i = 0; i < 3; ++i) {
    std::vector<std::string> ids = WorkerIds(64);
    const double ratio = MaxOverMean(Primaries(kPolicies[i], &ids), 64);
    std::printf("[ metric   ] %-6s 64 workers, 1M keys: max/mean load %.4f\n", kPolicies[i], ratio);
    EXPECT_LE(ratio, bound[i]) << kPolicies[i];
  }
}

struct Movement {
  double fraction = 0;   // of all keys whose primary changed
  bool minimal = false;  // every moved key left the removed member or went to the added one
};

// Moves from the cluster `before` to `after`, which differ by the member `changed`.
Movement Compare(const std::string& policy, std::vector<std::string> before,
                 std::vector<std::string> after, const std::string& changed) {
  std::vector<const std::string*> a = Primaries(policy, &before), b = Primaries(policy, &after);
  Movement m;
  if (a.size() != b.size() || a.empty()) return m;
  size_t moved = 0, elsewhere = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    if (*a[k] == *b[k]) continue;
    ++moved;
    if (*a[k] != changed && *b[k] != changed) ++elsewhere;
  }
  m.fraction = static_cast<double>(moved) / static_cast<double>(a.size());
  m.minimal = elsewhere == 0;
  return m;
}

// Removes the member at `remove` from, then adds `added` to, a cluster of n; checks that
// each moves 1/(larger cluster size) of the keys within `tolerance`.
void ExpectMovesOneNth(const std::string& policy, int n, int remove, const std::string& added,
                       double tolerance, bool expect_minimal) {
  const std::vector<std::string> ids = WorkerIds(n);
  std::vector<std::string> smaller = ids, larger = ids;
  smaller.erase(smaller.begin() + remove);
  larger.push_back(added);
  const Movement out = Compare(policy, ids, smaller, ids[remove]);
  const Movement in = Compare(policy, ids, larger, added);
  std::printf(
      "[ metric   ] %-6s N=%d: remove %s moves %.4f (x%.3f of 1/N), add %s moves %.4f "
      "(x%.3f of 1/(N+1))\n",
      policy.c_str(), n, ids[remove].c_str(), out.fraction, out.fraction * n, added.c_str(),
      in.fraction, in.fraction * (n + 1));
  EXPECT_NEAR(out.fraction * n, 1.0, tolerance) << policy << " remove, N=" << n;
  EXPECT_NEAR(in.fraction * (n + 1), 1.0, tolerance) << policy << " add, N=" << n;
  if (expect_minimal) {
    EXPECT_TRUE(out.minimal && in.minimal) << policy << " N=" << n;
  }
}

TEST(PlacementAcceptanceTest, MaglevMovesAboutOneNthWhenAMemberComesOrGoes) {
  for (int n : {16, 64}) ExpectMovesOneNth("maglev", n, n / 2, "worker-005x", 0.10, false);
}

TEST(PlacementAcceptanceTest, KetamaMovesOnlyTheChangedMembersKeys) {
  // Exactly the changed member's keys move; their share varies with 160 points per member.
  for (int n : {16, 64}) ExpectMovesOneNth("ketama", n, n / 2, "worker-005x", 0.50, true);
}

TEST(PlacementAcceptanceTest, JumpMovesTheMinimumForTheLastMemberInIdOrder) {
  for (int n : {16, 64}) ExpectMovesOneNth("jump", n, n - 1, "worker-999", 0.10, true);
}

TEST(PlacementAcceptanceTest, JumpMovesMoreForAMemberInTheMiddle) {
  const int n = 16;
  std::vector<std::string> ids = WorkerIds(n), smaller = ids;
  smaller.erase(smaller.begin() + n / 2);
  const Movement out = Compare("jump", ids, smaller, ids[n / 2]);
  std::printf("[ metric   ] jump   N=%d: remove the middle member moves %.4f\n", n, out.fraction);
  EXPECT_GT(out.fraction, 2.0 / n);
  EXPECT_FALSE(out.minimal);
}

}  // namespace
}  // namespace sluice::placement
