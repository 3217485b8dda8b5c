#include "common/units.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(UnitsTest, ParsesSizesAsPowersOfTwo) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("512K"), 512 * kKiB);
  EXPECT_EQ(*ParseSize("512KiB"), 512 * kKiB);
  EXPECT_EQ(*ParseSize("64M"), 64 * kMiB);
  EXPECT_EQ(*ParseSize("64MiB"), 64 * kMiB);
  EXPECT_EQ(*ParseSize("1G"), kGiB);
  EXPECT_EQ(*ParseSize("1GiB"), kGiB);
  EXPECT_EQ(*ParseSize("1.5M"), kMiB + kMiB / 2);
}

TEST(UnitsTest, RejectsBadSizes) {
  EXPECT_EQ(ParseSize("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("abc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("12Q").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("-1M").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("1.2.3M").status().code(), StatusCode::kInvalidArgument);
}

TEST(UnitsTest, ParsesDurations) {
  using namespace std::chrono;
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("30s"), seconds(30));
  EXPECT_EQ(*ParseDuration("5m"), minutes(5));
  EXPECT_EQ(*ParseDuration("1h"), hours(1));
  EXPECT_EQ(*ParseDuration("2"), seconds(2));
  EXPECT_FALSE(ParseDuration("5 parsecs").ok());
  EXPECT_EQ(*ParseDuration("3650d"), hours(24 * 3650));
  EXPECT_FALSE(ParseDuration("300000d").ok());  // past int64 nanoseconds: not wrapped
}

TEST(UnitsTest, FormatsForHumans) {
  EXPECT_EQ(FormatSize(512), "512 B");
  EXPECT_EQ(FormatSize(1536 * kKiB), "1.5 MiB");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(30)), "30s");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(250)), "250ms");
}

}  // namespace
}  // namespace sluice
