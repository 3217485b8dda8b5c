#include "net/s3_xml.h"

#include <gtest/gtest.h>

#include <pugixml.hpp>
#include <string>

namespace sluice::net {
namespace {

constexpr int64_t kNs = 1'000'000'000;
constexpr std::string_view kXmlns = "http://s3.amazonaws.com/doc/2006-03-01/";

// Parses rendered XML; fails the test if it is not well-formed.
pugi::xml_node Root(pugi::xml_document& doc, const std::string& xml, const char* name) {
  const pugi::xml_parse_result r = doc.load_string(xml.c_str());
  EXPECT_TRUE(r) << r.description() << "\n" << xml;
  EXPECT_TRUE(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
  pugi::xml_node root = doc.child(name);
  EXPECT_TRUE(root) << xml;
  EXPECT_EQ(std::string_view(root.attribute("xmlns").value()), kXmlns);
  return root;
}

std::string Text(const pugi::xml_node& n, const char* path) {
  return n.first_element_by_path(path).child_value();
}

TEST(S3TimeTest, Iso8601) {
  EXPECT_EQ(Iso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(Iso8601(1714564800LL * kNs + 123'456'789), "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(Iso8601(951782400LL * kNs), "2000-02-29T00:00:00.000Z");  // leap day
  EXPECT_EQ(Iso8601(4102444799LL * kNs), "2099-12-31T23:59:59.000Z");
}

TEST(S3TimeTest, HttpDate) {
  EXPECT_EQ(HttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(HttpDate(784111777LL * kNs), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(HttpDate(1714564800LL * kNs + 999'999'999), "Wed, 01 May 2024 12:00:00 GMT");
}

TEST(S3TimeTest, HttpDateRoundTripsOverCenturies) {
  // Every field is written by hand: a spread of instants from 1970 to 2255 (the end of
  // int64 nanoseconds) reads back.
  for (int64_t sec = 0; sec < 9'000'000'000LL; sec += 12'345'679 + sec / 1000) {
    const std::string d = HttpDate(sec * kNs + 5);
    ASSERT_EQ(d.size(), 29u) << d;
    EXPECT_EQ(ParseHttpDate(d), sec * kNs) << d;
  }
}

TEST(S3TimeTest, ParsesEveryHttpDateForm) {
  const int64_t want = 784111777LL * kNs;
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), want);    // IMF-fixdate
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), want);   // RFC 850
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), want);         // asctime
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 -0000"), want);  // Python formatdate
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 09:49:37 +0100"), want);
  EXPECT_EQ(ParseHttpDate("  Sun, 06 Nov 1994 08:49:37 UTC "), want);
  EXPECT_EQ(ParseHttpDate(HttpDate(1714564800LL * kNs)), 1714564800LL * kNs);
}

TEST(S3TimeTest, RejectsMalformedDates) {
  for (const char* s :
       {"", "yesterday", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:49:37 XYZ", "1714564800"}) {
    EXPECT_EQ(ParseHttpDate(s), -1) << s;
  }
}

TEST(S3XmlTest, ListBuckets) {
  pugi::xml_document doc;
  const std::string xml = RenderListBuckets({{"data", 1714564800LL * kNs}, {"a&b", 0}});
  pugi::xml_node root = Root(doc, xml, "ListAllMyBucketsResult");
  EXPECT_FALSE(Text(root, "Owner/ID").empty());
  EXPECT_FALSE(Text(root, "Owner/DisplayName").empty());
  pugi::xml_node b = root.child("Buckets").child("Bucket");
  EXPECT_EQ(Text(b, "Name"), "data");
  EXPECT_EQ(Text(b, "CreationDate"), "2024-05-01T12:00:00.000Z");
  EXPECT_EQ(Text(b.next_sibling("Bucket"), "Name"), "a&b");
  EXPECT_NE(xml.find("<Name>a&amp;b</Name>"), std::string::npos);
}

ListObjectsResult SampleListing(bool v2) {
  ListObjectsResult r;
  r.v2 = v2;
  r.bucket = "data";
  r.prefix = "dir/";
  r.delimiter = "/";
  r.max_keys = 2;
  r.truncated = true;
  r.continuation_token = "tok+/=";
  r.next_continuation_token = "next&tok";
  r.start_after = "dir/0";
  r.marker = "dir/0";
  r.next_marker = "dir/b<c>";
  r.objects = {{"dir/a & b.txt", 5, 1714564800LL * kNs, "e1"},
               {"dir/b<c>", 0, 0, "\"already-quoted\""}};
  r.common_prefixes = {"dir/sub ü/"};
  return r;
}

TEST(S3XmlTest, ListObjectsV2) {
  pugi::xml_document doc;
  const std::string xml = RenderListObjects(SampleListing(true));
  pugi::xml_node root = Root(doc, xml, "ListBucketResult");
  EXPECT_EQ(Text(root, "Name"), "data");
  EXPECT_EQ(Text(root, "Prefix"), "dir/");
  EXPECT_EQ(Text(root, "Delimiter"), "/");
  EXPECT_EQ(Text(root, "MaxKeys"), "2");
  EXPECT_EQ(Text(root, "KeyCount"), "3");
  EXPECT_EQ(Text(root, "IsTruncated"), "true");
  EXPECT_EQ(Text(root, "ContinuationToken"), "tok+/=");
  EXPECT_EQ(Text(root, "NextContinuationToken"), "next&tok");
  EXPECT_EQ(Text(root, "StartAfter"), "dir/0");
  EXPECT_FALSE(root.child("Marker"));
  EXPECT_FALSE(root.child("EncodingType"));
  pugi::xml_node c = root.child("Contents");
  EXPECT_EQ(Text(c, "Key"), "dir/a & b.txt");
  EXPECT_EQ(Text(c, "Size"), "5");
  EXPECT_EQ(Text(c, "LastModified"), "2024-05-01T12:00:00.000Z");
  EXPECT_EQ(Text(c, "ETag"), "\"e1\"");
  EXPECT_EQ(Text(c, "StorageClass"), "STANDARD");
  EXPECT_FALSE(c.child("Owner"));  // v2 lists owners only with fetch-owner
  EXPECT_EQ(Text(c.next_sibling("Contents"), "Key"), "dir/b<c>");
  EXPECT_EQ(Text(c.next_sibling("Contents"), "ETag"), "\"already-quoted\"");
  EXPECT_EQ(Text(root, "CommonPrefixes/Prefix"), "dir/sub ü/");
}

TEST(S3XmlTest, ListObjectsV2NotTruncatedHasNoNextToken) {
  ListObjectsResult r = SampleListing(true);
  r.truncated = false;
  r.continuation_token.clear();
  r.start_after.clear();
  r.delimiter.clear();
  pugi::xml_document doc;
  pugi::xml_node root = Root(doc, RenderListObjects(r), "ListBucketResult");
  EXPECT_EQ(Text(root, "IsTruncated"), "false");
  EXPECT_FALSE(root.child("NextContinuationToken"));
  EXPECT_FALSE(root.child("ContinuationToken"));
  EXPECT_FALSE(root.child("StartAfter"));
  EXPECT_FALSE(root.child("Delimiter"));
}

TEST(S3XmlTest, ListObjectsV1) {
  pugi::xml_document doc;
  pugi::xml_node root = Root(doc, RenderListObjects(SampleListing(false)), "ListBucketResult");
  EXPECT_EQ(Text(root, "Marker"), "dir/0");
  EXPECT_EQ(Text(root, "NextMarker"), "dir/b<c>");
  EXPECT_FALSE(root.child("KeyCount"));
  EXPECT_FALSE(root.child("ContinuationToken"));
  pugi::xml_node c = root.child("Contents");
  EXPECT_FALSE(Text(c, "Owner/ID").empty());
  EXPECT_EQ(Text(c, "StorageClass"), "STANDARD");

  ListObjectsResult flat = SampleListing(false);  // no delimiter: no NextMarker, as in S3
  flat.delimiter.clear();
  pugi::xml_document doc2;
  EXPECT_FALSE(Root(doc2, RenderListObjects(flat), "ListBucketResult").child("NextMarker"));
}

TEST(S3XmlTest, EncodingTypeUrlEncodesKeysPrefixesAndDelimiter) {
  ListObjectsResult r = SampleListing(true);
  r.url_encode = true;
  r.objects[0].key = "dir/a b+c&d\x01ü";
  pugi::xml_document doc;
  pugi::xml_node root = Root(doc, RenderListObjects(r), "ListBucketResult");
  EXPECT_EQ(Text(root, "EncodingType"), "url");
  EXPECT_EQ(Text(root, "Prefix"), "dir/");
  EXPECT_EQ(Text(root, "Delimiter"), "/");  // '/' stays, as in keys
  EXPECT_EQ(Text(root, "StartAfter"), "dir/0");
  EXPECT_EQ(Text(root, "Contents/Key"), "dir/a%20b%2Bc%26d%01%C3%BC");
  EXPECT_EQ(Text(root, "CommonPrefixes/Prefix"), "dir/sub%20%C3%BC/");
  EXPECT_EQ(Text(root, "ContinuationToken"), "tok+/=");  // tokens are opaque, not encoded

  r.v2 = false;
  pugi::xml_document doc1;
  pugi::xml_node v1 = Root(doc1, RenderListObjects(r), "ListBucketResult");
  EXPECT_EQ(Text(v1, "NextMarker"), "dir/b%3Cc%3E");
}

TEST(S3XmlTest, MultipartResponses) {
  pugi::xml_document d1;
  pugi::xml_node init = Root(d1, RenderInitiateMultipartUpload("data", "a&b", "up/1"),
                             "InitiateMultipartUploadResult");
  EXPECT_EQ(Text(init, "Bucket"), "data");
  EXPECT_EQ(Text(init, "Key"), "a&b");
  EXPECT_EQ(Text(init, "UploadId"), "up/1");

  pugi::xml_document d2;
  pugi::xml_node done =
      Root(d2, RenderCompleteMultipartUpload("http://h/data/k", "data", "k", "abc-2"),
           "CompleteMultipartUploadResult");
  EXPECT_EQ(Text(done, "Location"), "http://h/data/k");
  EXPECT_EQ(Text(done, "ETag"), "\"abc-2\"");

  pugi::xml_document d3;
  pugi::xml_node parts = Root(
      d3,
      RenderListParts("data", "k", "u1", {{1, 5 << 20, 1714564800LL * kNs, "p1"}, {3, 7, 0, "p3"}}),
      "ListPartsResult");
  EXPECT_EQ(Text(parts, "UploadId"), "u1");
  EXPECT_EQ(Text(parts, "IsTruncated"), "false");
  EXPECT_EQ(Text(parts, "NextPartNumberMarker"), "3");
  EXPECT_EQ(Text(parts, "StorageClass"), "STANDARD");
  EXPECT_FALSE(Text(parts, "Initiator/ID").empty());
  EXPECT_EQ(Text(parts, "Part/PartNumber"), "1");
  EXPECT_EQ(Text(parts, "Part/Size"), std::to_string(5 << 20));
  EXPECT_EQ(Text(parts, "Part/ETag"), "\"p1\"");
  EXPECT_EQ(Text(parts, "Part/LastModified"), "2024-05-01T12:00:00.000Z");
}

TEST(S3XmlTest, ParsesCompleteMultipartUpload) {
  // As botocore sends it: namespace, quoted ETags.
  Result<std::vector<CompletedPart>> r = ParseCompleteMultipartUpload(
      "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Part><ETag>\"e1\"</ETag><PartNumber>1</PartNumber></Part>\n"
      "<Part><PartNumber> 2 </PartNumber><ETag>&quot;e2&quot;</ETag></Part>"
      "<Part><PartNumber>10000</PartNumber><ETag>e3</ETag><ChecksumCRC32>x</ChecksumCRC32></Part>"
      "</CompleteMultipartUpload>");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].part_number, 1);
  EXPECT_EQ((*r)[0].etag, "e1");
  EXPECT_EQ((*r)[1].part_number, 2);
  EXPECT_EQ((*r)[1].etag, "e2");
  EXPECT_EQ((*r)[2].part_number, 10000);
  EXPECT_EQ((*r)[2].etag, "e3");
}

void ExpectMalformed(const Status& s, std::string_view prefix = "MalformedXML:") {
  EXPECT_TRUE(s.Is(StatusCode::kInvalidArgument)) << s.ToString();
  EXPECT_TRUE(s.message().starts_with(prefix)) << s.ToString();
}

TEST(S3XmlTest, RefusesBadCompleteMultipartUpload) {
  for (const char* xml : {
           "",
           "not xml",
           "<CompleteMultipartUpload>",
           "<Other/>",
           "<CompleteMultipartUpload></CompleteMultipartUpload>",
           "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
           "</CompleteMultipartUpload>",
           "<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>",
           "<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>x</ETag></Part>"
           "</CompleteMultipartUpload>",
           "<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber><ETag>x</ETag></Part>"
           "</CompleteMultipartUpload>",
           "<CompleteMultipartUpload><Part><PartNumber>1x</PartNumber><ETag>x</ETag></Part>"
           "</CompleteMultipartUpload>",
           "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"\"</ETag></Part>"
           "</CompleteMultipartUpload>",
           "<CompleteMultipartUpload><Foo/></CompleteMultipartUpload>",
       }) {
    Result<std::vector<CompletedPart>> r = ParseCompleteMultipartUpload(xml);
    ASSERT_FALSE(r.ok()) << xml;
    ExpectMalformed(r.status());
  }
}

TEST(S3XmlTest, RefusesPartsOutOfOrder) {
  for (const char* xml : {
           "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part>"
           "<Part><PartNumber>1</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>",
           "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part>"
           "<Part><PartNumber>1</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>",
       }) {
    Result<std::vector<CompletedPart>> r = ParseCompleteMultipartUpload(xml);
    ASSERT_FALSE(r.ok());
    ExpectMalformed(r.status(), "InvalidPartOrder:");
  }
}

TEST(S3XmlTest, ParsesDeleteObjectsWithEscapedAndUnicodeKeys) {
  Result<DeleteObjectsRequest> r = ParseDeleteObjects(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
      "<Object><Key>a&amp;b&lt;c&gt;</Key></Object>"
      "<Object><Key>ü/日本 x</Key><VersionId>v</VersionId></Object>"
      "<Object><Key> </Key></Object>"
      "<Object><Key><![CDATA[cd<ata>]]></Key></Object></Delete>");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->quiet);
  ASSERT_EQ(r->keys.size(), 4u);
  EXPECT_EQ(r->keys[0], "a&b<c>");
  EXPECT_EQ(r->keys[1], "ü/日本 x");
  EXPECT_EQ(r->keys[2], " ");
  EXPECT_EQ(r->keys[3], "cd<ata>");

  Result<DeleteObjectsRequest> loud =
      ParseDeleteObjects("<Delete><Object><Key>k</Key></Object></Delete>");
  ASSERT_TRUE(loud.ok());
  EXPECT_FALSE(loud->quiet);
}

std::string DeleteBody(int n) {
  std::string xml = "<Delete>";
  for (int i = 0; i < n; ++i) xml += "<Object><Key>k" + std::to_string(i) + "</Key></Object>";
  return xml + "</Delete>";
}

TEST(S3XmlTest, DeleteObjectsAllowsAtMost1000Keys) {
  Result<DeleteObjectsRequest> ok = ParseDeleteObjects(DeleteBody(1000));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->keys.size(), 1000u);
  Result<DeleteObjectsRequest> too_many = ParseDeleteObjects(DeleteBody(1001));
  ASSERT_FALSE(too_many.ok());
  ExpectMalformed(too_many.status());
}

TEST(S3XmlTest, RefusesBadDeleteObjects) {
  for (const char* xml :
       {"", "<Delete>", "<Delete></Delete>", "<Remove><Object><Key>k</Key></Object></Remove>",
        "<Delete><Object></Object></Delete>", "<Delete><Object><Key></Key></Object></Delete>",
        "<Delete><Quiet>maybe</Quiet><Object><Key>k</Key></Object></Delete>",
        "<Delete><Bogus/><Object><Key>k</Key></Object></Delete>"}) {
    Result<DeleteObjectsRequest> r = ParseDeleteObjects(xml);
    ASSERT_FALSE(r.ok()) << xml;
    ExpectMalformed(r.status());
  }
}

TEST(S3XmlTest, DoesNotExpandEntitiesFromADoctype) {
  Result<DeleteObjectsRequest> r = ParseDeleteObjects(
      "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
      "<Delete><Object><Key>&x;</Key></Object></Delete>");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->keys[0], "&x;");  // left as text, never read
}

TEST(S3XmlTest, DeleteResult) {
  const std::vector<std::string> deleted = {"a&b", "ü"};
  const std::vector<DeleteError> errors = {{"c<d>", "AccessDenied", "Access Denied"}};
  pugi::xml_document doc;
  pugi::xml_node root = Root(doc, RenderDeleteResult(deleted, errors, false), "DeleteResult");
  EXPECT_EQ(Text(root, "Deleted/Key"), "a&b");
  EXPECT_EQ(Text(root.child("Deleted").next_sibling("Deleted"), "Key"), "ü");
  EXPECT_EQ(Text(root, "Error/Key"), "c<d>");
  EXPECT_EQ(Text(root, "Error/Code"), "AccessDenied");
  EXPECT_EQ(Text(root, "Error/Message"), "Access Denied");

  pugi::xml_document quiet_doc;
  pugi::xml_node quiet = Root(quiet_doc, RenderDeleteResult(deleted, errors, true), "DeleteResult");
  EXPECT_FALSE(quiet.child("Deleted"));  // quiet mode reports errors only
  EXPECT_EQ(Text(quiet, "Error/Key"), "c<d>");
}

}  // namespace
}  // namespace sluice::net
