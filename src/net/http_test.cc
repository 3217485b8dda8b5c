#include "net/http.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

namespace sluice::net {
namespace {

TEST(UrlTest, DecodesPercentEscapes) {
  EXPECT_EQ(UrlDecode("a%20b%2Fc"), "a b/c");
  EXPECT_EQ(UrlDecode("%e2%82%AC"), "\xe2\x82\xac");
  EXPECT_EQ(UrlDecode(""), "");
}

TEST(UrlTest, PlusIsSpaceOnlyWhenAsked) {
  EXPECT_EQ(UrlDecode("a+b"), "a+b");
  EXPECT_EQ(UrlDecode("a+b", /*plus_is_space=*/true), "a b");
}

TEST(UrlTest, RejectsMalformedEscapes) {
  EXPECT_EQ(UrlDecode("%"), std::nullopt);
  EXPECT_EQ(UrlDecode("ab%2"), std::nullopt);
  EXPECT_EQ(UrlDecode("%zz"), std::nullopt);
  EXPECT_EQ(UrlDecode("%2g"), std::nullopt);
}

TEST(UrlTest, EncodesEverythingButUnreserved) {
  EXPECT_EQ(UrlEncode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(UrlEncode("a b/c+d=e&f"), "a%20b%2Fc%2Bd%3De%26f");
  EXPECT_EQ(UrlEncode("a b/c", /*encode_slash=*/false), "a%20b/c");
  EXPECT_EQ(UrlEncode("\xe2\x82\xac"), "%E2%82%AC");
  EXPECT_EQ(UrlEncode(std::string_view("\0", 1)), "%00");
}

TEST(UrlTest, RoundTripsAllBytes) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(UrlDecode(UrlEncode(all)), all);
  EXPECT_EQ(UrlDecode(UrlEncode(all, false)), all);
}

TEST(UrlTest, ParsesQueryInOrder) {
  auto q = ParseQuery("list-type=2&prefix=a%2Fb+c&delimiter=%2F&uploads&&x=");
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0], std::make_pair(std::string("list-type"), std::string("2")));
  EXPECT_EQ(q[1], std::make_pair(std::string("prefix"), std::string("a/b c")));
  EXPECT_EQ(q[2], std::make_pair(std::string("delimiter"), std::string("/")));
  EXPECT_EQ(q[3], std::make_pair(std::string("uploads"), std::string("")));
  EXPECT_EQ(q[4], std::make_pair(std::string("x"), std::string("")));
  EXPECT_TRUE(ParseQuery("").empty());
}

TEST(UrlTest, QueryKeepsMalformedEscapesVerbatim) {
  auto q = ParseQuery("a=%zz&b=1");
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].second, "%zz");
  EXPECT_EQ(q[1].second, "1");
}

TEST(HttpRequestTest, HeaderLookupIgnoresCase) {
  HttpRequest r;
  r.headers = {{"Content-Type", "text/plain"}, {"x-amz-date", "20240101T000000Z"}};
  EXPECT_EQ(r.Header("content-type"), "text/plain");
  EXPECT_EQ(r.Header("X-Amz-Date"), "20240101T000000Z");
  EXPECT_EQ(r.Header("Range"), "");
  EXPECT_TRUE(r.HasHeader("CONTENT-TYPE"));
  EXPECT_FALSE(r.HasHeader("content-typ"));
}

// A BodyReader over a string, handing out at most `step` bytes per Read.
class StringReader : public BodyReader {
 public:
  StringReader(std::string data, size_t step) : data_(std::move(data)), step_(step) {}
  Result<size_t> Read(std::span<char> out) override {
    size_t n = std::min({out.size(), step_, data_.size() - pos_});
    std::memcpy(out.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t step_;
  size_t pos_ = 0;
};

TEST(HttpRequestTest, ReadAllCollectsBodyWithinLimit) {
  std::string body(200000, 'x');
  StringReader reader(body, 7000);
  auto all = reader.ReadAll(body.size());
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, body);

  StringReader empty("", 10);
  auto none = empty.ReadAll(0);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, "");
}

TEST(HttpRequestTest, ReadAllFailsPastLimit) {
  StringReader reader(std::string(1001, 'x'), 100);
  auto all = reader.ReadAll(1000);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice::net
