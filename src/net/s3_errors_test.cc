#include "net/s3_errors.h"

#include <gtest/gtest.h>

namespace sluice::net {
namespace {

TEST(S3ErrorsTest, MapsEveryStatusCode) {
  struct Case {
    Status status;
    bool is_bucket;
    int http;
    const char* code;
  };
  const Case cases[] = {
      {Status::NotFound("k"), false, 404, "NoSuchKey"},
      {Status::NotFound("b"), true, 404, "NoSuchBucket"},
      {Status::PermissionDenied("no"), false, 403, "AccessDenied"},
      {Status::InvalidArgument("bad"), false, 400, "InvalidArgument"},
      {Status::FailedPrecondition("etag"), false, 412, "PreconditionFailed"},
      {Status::OutOfRange("r"), false, 416, "InvalidRange"},
      {Status::ResourceExhausted("full"), false, 503, "SlowDown"},
      {Status::Unavailable("down"), false, 503, "ServiceUnavailable"},
      {Status::DeadlineExceeded("slow"), false, 503, "ServiceUnavailable"},
      {Status::Unimplemented("nope"), false, 501, "NotImplemented"},
      {Status::AlreadyExists("b"), true, 409, "BucketAlreadyOwnedByYou"},
      {Status::DataLoss("crc"), false, 500, "InternalError"},
      {Status::IoError("disk"), false, 500, "InternalError"},
      {Status::Internal("bug"), false, 500, "InternalError"},
  };
  for (const Case& c : cases) {
    const S3Error e = S3ErrorFromStatus(c.status, c.is_bucket);
    EXPECT_EQ(e.http_status, c.http) << c.status.ToString();
    EXPECT_EQ(e.code, c.code) << c.status.ToString();
    EXPECT_FALSE(e.message.empty()) << c.status.ToString();
  }
}

TEST(S3ErrorsTest, InvalidArgumentKeepsTaggedS3Code) {
  EXPECT_EQ(S3ErrorFromStatus(Status::InvalidArgument("MalformedXML: no parts")).code,
            "MalformedXML");
  EXPECT_EQ(S3ErrorFromStatus(Status::InvalidArgument("InvalidPartOrder: 2 after 3")).code,
            "InvalidPartOrder");
  EXPECT_EQ(S3ErrorFromStatus(Status::InvalidArgument("EntityTooSmall: 5 MiB")).http_status, 400);
  // An unknown prefix is not a code.
  EXPECT_EQ(S3ErrorFromStatus(Status::InvalidArgument("key: bad")).code, "InvalidArgument");
}

TEST(S3ErrorsTest, EmptyMessagesGetS3Defaults) {
  EXPECT_EQ(S3ErrorFromStatus(Status::NotFound("")).message, "The specified key does not exist.");
  EXPECT_EQ(S3ErrorFromStatus(Status::PermissionDenied("")).message, "Access Denied");
}

TEST(S3ErrorsTest, RendersEscapedErrorDocument) {
  const S3Error e = S3Error::Of(404, "NoSuchKey", "no <such> key & \"more\"");
  const std::string xml = RenderS3ErrorXml(e, "/b/a&b<c>.txt", "req-1");
  EXPECT_EQ(xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
            "<Message>no &lt;such&gt; key &amp; &quot;more&quot;</Message>"
            "<Resource>/b/a&amp;b&lt;c&gt;.txt</Resource><RequestId>req-1</RequestId></Error>");
}

TEST(S3ErrorsTest, XmlEscapeHandlesEveryMetacharacterAndKeepsUtf8) {
  EXPECT_EQ(XmlEscape("&<>\"'"), "&amp;&lt;&gt;&quot;&apos;");
  EXPECT_EQ(XmlEscape("ü日本"), "ü日本");
  EXPECT_EQ(XmlEscape(std::string_view("a\tb\x01", 4)), "a&#9;b&#1;");
  EXPECT_EQ(XmlEscape(""), "");
}

}  // namespace
}  // namespace sluice::net
