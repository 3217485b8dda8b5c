#include "common/hash.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(HashTest, StableAndDistinct) {
  EXPECT_EQ(Hash64("abc"), Hash64("abc"));
  EXPECT_NE(Hash64("abc"), Hash64("abd"));
  EXPECT_NE(Hash64("abc", 1), Hash64("abc", 2));
  Hash128 h = Hash128Of("s3://b/k\0etag");
  Hash128 back;
  ASSERT_TRUE(Hash128::FromHex(h.ToHex(), &back));
  EXPECT_EQ(h, back);
  EXPECT_FALSE(Hash128::FromHex("zz", &back));
}

TEST(HashTest, ChecksumDetectsFlippedBit) {
  std::string data(4096, 'x');
  uint64_t c = Checksum(data.data(), data.size());
  data[100] ^= 1;
  EXPECT_NE(c, Checksum(data.data(), data.size()));
}

}  // namespace
}  // namespace sluice

#include "common/digest.h"

namespace sluice {
namespace {

TEST(DigestTest, Md5MatchesKnownVectors) {
  Md5 empty;
  EXPECT_EQ(empty.HexDigest(), "d41d8cd98f00b204e9800998ecf8427e");
  Md5 abc;
  abc.Update("a");
  abc.Update("bc");
  EXPECT_EQ(abc.HexDigest(), "900150983cd24fb0d6963f7d28e17f72");
}

}  // namespace
}  // namespace sluice
