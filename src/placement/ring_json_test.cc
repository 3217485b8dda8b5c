#include "placement/ring_json.h"

#include <gtest/gtest.h>

namespace sluice::placement {
namespace {

TEST(RingJsonTest, RoundTripsEverySetting) {
  RingSettings r;
  r.policy = "ketama";
  r.virtual_points = 200;
  r.block_size = 16 * kMiB;
  r.replicas = 2;
  r.replica_rules = {{"/models/", 3}};
  auto back = RingFromJson(RingJson(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Fingerprint(), r.Fingerprint());
}

TEST(RingJsonTest, RejectsMissingFieldsAndInvalidSettings) {
  auto j = RingJson(RingSettings{});
  j.erase("block_size");
  EXPECT_EQ(RingFromJson(j).status().code(), StatusCode::kInvalidArgument);
  auto bad = RingJson(RingSettings{});
  bad["policy"] = "rendezvous";
  EXPECT_EQ(RingFromJson(bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RingFromJson(nlohmann::json::array()).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice::placement
