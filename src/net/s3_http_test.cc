#include "net/s3_http.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

#include "net/s3_xml.h"

namespace sluice::net {
namespace {

// ----- Range -----

std::optional<ByteRange> Ok(std::string_view header, uint64_t size) {
  Result<std::optional<ByteRange>> r = ParseRange(header, size);
  EXPECT_TRUE(r.ok()) << header << " size " << size << ": " << r.status().ToString();
  return r.ok() ? *r : std::nullopt;
}

void ExpectRange(std::string_view header, uint64_t size, uint64_t first, uint64_t last) {
  const std::optional<ByteRange> r = Ok(header, size);
  ASSERT_TRUE(r.has_value()) << header;
  EXPECT_EQ(r->first, first) << header;
  EXPECT_EQ(r->last, last) << header;
  EXPECT_EQ(r->length(), last - first + 1) << header;
}

void ExpectWhole(std::string_view header, uint64_t size) {
  EXPECT_FALSE(Ok(header, size).has_value()) << header;
}

void ExpectUnsatisfiable(std::string_view header, uint64_t size) {
  Result<std::optional<ByteRange>> r = ParseRange(header, size);
  ASSERT_FALSE(r.ok()) << header;
  EXPECT_TRUE(r.status().Is(StatusCode::kOutOfRange)) << header;
}

TEST(RangeTest, ClosedRange) {
  ExpectRange("bytes=0-0", 100, 0, 0);
  ExpectRange("bytes=0-99", 100, 0, 99);
  ExpectRange("bytes=10-19", 100, 10, 19);
  ExpectRange("bytes=99-99", 100, 99, 99);
}

TEST(RangeTest, LastBeyondSizeIsClamped) {
  ExpectRange("bytes=10-1000", 100, 10, 99);
  ExpectRange("bytes=0-18446744073709551615", 100, 0, 99);
  ExpectRange("bytes=0-99999999999999999999999", 100, 0, 99);  // saturates
}

TEST(RangeTest, OpenRange) {
  ExpectRange("bytes=0-", 100, 0, 99);
  ExpectRange("bytes=42-", 100, 42, 99);
  ExpectRange("bytes=99-", 100, 99, 99);
}

TEST(RangeTest, SuffixRange) {
  ExpectRange("bytes=-1", 100, 99, 99);
  ExpectRange("bytes=-10", 100, 90, 99);
  ExpectRange("bytes=-100", 100, 0, 99);
  ExpectRange("bytes=-1000", 100, 0, 99);  // longer than the object: all of it
}

TEST(RangeTest, FirstAtOrBeyondSizeIsUnsatisfiable) {
  ExpectUnsatisfiable("bytes=100-", 100);
  ExpectUnsatisfiable("bytes=100-200", 100);
  ExpectUnsatisfiable("bytes=5000-", 100);
  ExpectUnsatisfiable("bytes=99999999999999999999999-", 100);
}

TEST(RangeTest, ZeroSuffixIsUnsatisfiable) {
  ExpectUnsatisfiable("bytes=-0", 100);
  ExpectUnsatisfiable("bytes=-0", 0);
}

TEST(RangeTest, InvalidSyntaxServesWholeObject) {
  for (const char* h :
       {"", "   ", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=1-a", "bytes=5-2", "items=0-1",
        "bytes 0-1", "bytes=0x1-2", "bytes=1", "bytes=--1", "bytes=+1-2", "bytes=1-2-3"}) {
    ExpectWhole(h, 100);
  }
}

TEST(RangeTest, MultipleRangesServeWholeObject) {
  ExpectWhole("bytes=0-1,5-6", 100);
  ExpectWhole("bytes=0-1, -5", 100);
  ExpectWhole("bytes=500-600,0-1", 100);  // even when one part is unsatisfiable
}

TEST(RangeTest, ToleratesCaseAndWhitespace) {
  ExpectRange("Bytes=1-2", 100, 1, 2);
  ExpectRange("  bytes=1-2  ", 100, 1, 2);
  ExpectRange("bytes= 1 - 2", 100, 1, 2);
}

TEST(RangeTest, EmptyObject) {
  ExpectUnsatisfiable("bytes=0-", 0);
  ExpectUnsatisfiable("bytes=0-0", 0);
  ExpectUnsatisfiable("bytes=0-10", 0);
  ExpectWhole("bytes=-5", 0);  // S3 answers 200 with the empty object
  ExpectWhole("", 0);
  ExpectWhole("bytes=a-", 0);
}

// ----- Preconditions -----

constexpr int64_t kNs = 1'000'000'000;
constexpr int64_t kMtime = 1714564800LL * kNs + 250'000'000;  // Wed, 01 May 2024 12:00:00.25
const std::string kBefore = HttpDate((1714564800LL - 60) * kNs);
const std::string kSame = HttpDate(1714564800LL * kNs);
const std::string kAfter = HttpDate((1714564800LL + 60) * kNs);

Precondition Eval(std::initializer_list<std::pair<std::string, std::string>> headers,
                  std::string method = "GET") {
  HttpRequest req;
  req.method = std::move(method);
  req.headers.assign(headers.begin(), headers.end());
  return EvaluatePreconditions(req, "abc123", kMtime);
}

constexpr Precondition kGo = Precondition::kProceed;
constexpr Precondition k304 = Precondition::kNotModified;
constexpr Precondition k412 = Precondition::kFailed;

TEST(PreconditionsTest, NoHeadersProceeds) { EXPECT_EQ(Eval({}), kGo); }

TEST(PreconditionsTest, IfMatch) {
  EXPECT_EQ(Eval({{"If-Match", "\"abc123\""}}), kGo);
  EXPECT_EQ(Eval({{"If-Match", "abc123"}}), kGo);  // unquoted, as some clients send
  EXPECT_EQ(Eval({{"If-Match", "*"}}), kGo);
  EXPECT_EQ(Eval({{"If-Match", "\"x\", \"abc123\""}}), kGo);
  EXPECT_EQ(Eval({{"If-Match", "W/\"abc123\""}}), kGo);
  EXPECT_EQ(Eval({{"If-Match", "\"other\""}}), k412);
  EXPECT_EQ(Eval({{"if-match", "\"other\""}}), k412);  // header names are case-insensitive
  EXPECT_EQ(Eval({{"If-Match", "\"other\""}}, "HEAD"), k412);
  EXPECT_EQ(Eval({{"If-Match", "\"other\""}}, "PUT"), k412);
}

TEST(PreconditionsTest, IfNoneMatch) {
  EXPECT_EQ(Eval({{"If-None-Match", "\"abc123\""}}), k304);
  EXPECT_EQ(Eval({{"If-None-Match", "\"abc123\""}}, "HEAD"), k304);
  EXPECT_EQ(Eval({{"If-None-Match", "*"}}), k304);
  EXPECT_EQ(Eval({{"If-None-Match", "\"a\",\"abc123\""}}), k304);
  EXPECT_EQ(Eval({{"If-None-Match", "W/\"abc123\""}}), k304);
  EXPECT_EQ(Eval({{"If-None-Match", "\"other\""}}), kGo);
  // Not GET/HEAD (a conditional PUT): 412, not 304.
  EXPECT_EQ(Eval({{"If-None-Match", "*"}}, "PUT"), k412);
  EXPECT_EQ(Eval({{"If-None-Match", "\"other\""}}, "PUT"), kGo);
}

TEST(PreconditionsTest, IfModifiedSince) {
  EXPECT_EQ(Eval({{"If-Modified-Since", kBefore}}), kGo);
  EXPECT_EQ(Eval({{"If-Modified-Since", kSame}}), k304);  // whole seconds
  EXPECT_EQ(Eval({{"If-Modified-Since", kAfter}}), k304);
  EXPECT_EQ(Eval({{"If-Modified-Since", kAfter}}, "HEAD"), k304);
  EXPECT_EQ(Eval({{"If-Modified-Since", kAfter}}, "PUT"), kGo);  // GET/HEAD only
  EXPECT_EQ(Eval({{"If-Modified-Since", "not a date"}}), kGo);   // invalid: ignored
  EXPECT_EQ(Eval({{"If-Modified-Since", "Wednesday, 01-May-24 12:01:00 GMT"}}), k304);
  EXPECT_EQ(Eval({{"If-Modified-Since", "Wed May  1 11:59:00 2024"}}), kGo);
}

TEST(PreconditionsTest, IfUnmodifiedSince) {
  EXPECT_EQ(Eval({{"If-Unmodified-Since", kBefore}}), k412);
  EXPECT_EQ(Eval({{"If-Unmodified-Since", kSame}}), kGo);
  EXPECT_EQ(Eval({{"If-Unmodified-Since", kAfter}}), kGo);
  EXPECT_EQ(Eval({{"If-Unmodified-Since", kBefore}}, "HEAD"), k412);
  EXPECT_EQ(Eval({{"If-Unmodified-Since", "garbage"}}), kGo);
}

// S3: If-Match true and If-Unmodified-Since false -> 200.
TEST(PreconditionsTest, TrueIfMatchOverridesFalseIfUnmodifiedSince) {
  EXPECT_EQ(Eval({{"If-Match", "\"abc123\""}, {"If-Unmodified-Since", kBefore}}), kGo);
  EXPECT_EQ(Eval({{"If-Match", "\"nope\""}, {"If-Unmodified-Since", kAfter}}), k412);
  EXPECT_EQ(Eval({{"If-Match", "\"nope\""}, {"If-Unmodified-Since", kBefore}}), k412);
}

// S3: If-None-Match false (the tag matches) and If-Modified-Since true -> 304; a true
// If-None-Match makes If-Modified-Since irrelevant (RFC 7232 section 6).
TEST(PreconditionsTest, IfNoneMatchTakesPrecedenceOverIfModifiedSince) {
  EXPECT_EQ(Eval({{"If-None-Match", "\"abc123\""}, {"If-Modified-Since", kBefore}}), k304);
  EXPECT_EQ(Eval({{"If-None-Match", "\"other\""}, {"If-Modified-Since", kAfter}}), kGo);
  EXPECT_EQ(Eval({{"If-None-Match", "\"other\""}, {"If-Modified-Since", kBefore}}), kGo);
  EXPECT_EQ(Eval({{"If-None-Match", "\"abc123\""}, {"If-Modified-Since", kAfter}}), k304);
}

// RFC 7232 order: a failing If-Match/If-Unmodified-Since (412) beats a 304.
TEST(PreconditionsTest, FailureBeatsNotModified) {
  EXPECT_EQ(Eval({{"If-Match", "\"nope\""}, {"If-None-Match", "\"abc123\""}}), k412);
  EXPECT_EQ(Eval({{"If-Unmodified-Since", kBefore}, {"If-Modified-Since", kAfter}}), k412);
  EXPECT_EQ(Eval({{"If-Match", "\"abc123\""}, {"If-None-Match", "\"abc123\""}}), k304);
  EXPECT_EQ(Eval({{"If-Match", "*"},
                  {"If-Unmodified-Since", kBefore},
                  {"If-None-Match", "\"other\""},
                  {"If-Modified-Since", kAfter}}),
            kGo);
}

TEST(PreconditionsTest, QuotedStoredEtagCompares) {
  HttpRequest req;
  req.method = "GET";
  req.headers = {{"If-None-Match", "\"abc123\""}};
  EXPECT_EQ(EvaluatePreconditions(req, "\"abc123\"", kMtime), k304);
}

// ----- Conditional writes -----

WritePrecondition EvalWrite(std::initializer_list<std::pair<std::string, std::string>> headers,
                            std::optional<std::string_view> etag) {
  HttpRequest req;
  req.method = "PUT";
  req.headers.assign(headers.begin(), headers.end());
  return EvaluateWritePreconditions(req, etag);
}

TEST(WritePreconditionsTest, IfNoneMatchStarRefusesAnExistingKey) {
  EXPECT_EQ(EvalWrite({{"If-None-Match", "*"}}, std::nullopt), WritePrecondition::kProceed);
  EXPECT_EQ(EvalWrite({{"If-None-Match", "*"}}, "abc"), WritePrecondition::kFailed);
  EXPECT_EQ(EvalWrite({{"If-None-Match", "\"other\""}}, "abc"), WritePrecondition::kProceed);
  EXPECT_EQ(EvalWrite({{"If-None-Match", "\"x\", \"abc\""}}, "abc"), WritePrecondition::kFailed);
}

TEST(WritePreconditionsTest, IfMatchNeedsTheKeyAtThatEtag) {
  EXPECT_EQ(EvalWrite({}, std::nullopt), WritePrecondition::kProceed);
  EXPECT_EQ(EvalWrite({}, "abc"), WritePrecondition::kProceed);
  EXPECT_EQ(EvalWrite({{"If-Match", "\"abc\""}}, "abc"), WritePrecondition::kProceed);
  EXPECT_EQ(EvalWrite({{"If-Match", "abc"}}, "abc"), WritePrecondition::kProceed);
  EXPECT_EQ(EvalWrite({{"If-Match", "*"}}, "abc"), WritePrecondition::kProceed);
  EXPECT_EQ(EvalWrite({{"If-Match", "\"old\""}}, "abc"), WritePrecondition::kFailed);
  EXPECT_EQ(EvalWrite({{"If-Match", "W/\"abc\""}}, "abc"), WritePrecondition::kFailed);
  EXPECT_EQ(EvalWrite({{"If-Match", "\"abc\""}}, std::nullopt), WritePrecondition::kNoSuchKey);
  EXPECT_EQ(EvalWrite({{"If-Match", "*"}}, std::nullopt), WritePrecondition::kNoSuchKey);
}

}  // namespace
}  // namespace sluice::net
