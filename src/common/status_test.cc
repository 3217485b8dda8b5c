#include "sluice/status.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

Result<int> Half(int v) {
  if (v % 2) return Status::InvalidArgument("odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  SLUICE_ASSIGN_OR_RETURN(int h, Half(v));
  return Half(h);
}

Status CheckEven(int v) {
  SLUICE_RETURN_IF_ERROR(Half(v).status());
  return Status::OK();
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::OK().ok());
  Status s = Status::NotFound("no such key 'a'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: no such key 'a'");
  EXPECT_EQ(s.WithContext("read").ToString(), "NotFound: read: no such key 'a'");
  EXPECT_TRUE(Status::Unavailable("x").IsRetryable());
  EXPECT_FALSE(Status::NotFound("x").IsRetryable());
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_FALSE(CheckEven(3).ok());
  EXPECT_EQ(Half(3).value_or(-1), -1);
}

}  // namespace
}  // namespace sluice
