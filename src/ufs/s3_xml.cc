#include "ufs/s3_xml.h"

#include <fmt/format.h>

#include <cstdlib>
#include <pugixml.hpp>

#include "ufs/curl_client.h"

namespace sluice::ufs {
namespace {

bool Load(pugi::xml_document* doc, std::string_view body) {
  // parse_ws_pcdata_single: a key of blanks only (" ") is a key, not an empty element.
  return static_cast<bool>(doc->load_buffer(body.data(), body.size(),
                                            pugi::parse_default | pugi::parse_ws_pcdata_single));
}

std::string Text(const pugi::xml_node& node, const char* child) {
  return node.child(child).text().as_string();
}

std::string Strip(const std::string& s, std::string_view prefix) {
  return s.starts_with(prefix) ? s.substr(prefix.size()) : s;
}

}  // namespace

S3Error ParseS3Error(std::string_view body) {
  pugi::xml_document doc;
  if (body.empty() || !Load(&doc, body)) return {};
  pugi::xml_node err = doc.child("Error");
  if (!err) return {};
  return {Text(err, "Code"), Text(err, "Message")};
}

Result<ListPage> ParseListObjectsV2(std::string_view body, std::string_view strip_prefix) {
  pugi::xml_document doc;
  if (!Load(&doc, body)) return Status::Internal("ListObjectsV2: unparseable XML response");
  pugi::xml_node root = doc.child("ListBucketResult");
  if (!root) return Status::Internal("ListObjectsV2: no <ListBucketResult> in response");
  ListPage page;
  for (pugi::xml_node c : root.children("Contents")) {
    ObjectInfo info;
    info.key = Strip(Text(c, "Key"), strip_prefix);
    // The store prefix's own folder marker ("p/" under s3://b/p) names no object here.
    if (info.key.empty()) continue;
    info.size = std::strtoull(Text(c, "Size").c_str(), nullptr, 10);
    info.mtime_ns = ParseIso8601Ns(Text(c, "LastModified"));
    info.etag = Unquote(Text(c, "ETag"));
    page.objects.push_back(std::move(info));
  }
  for (pugi::xml_node p : root.children("CommonPrefixes")) {
    page.common_prefixes.push_back(Strip(Text(p, "Prefix"), strip_prefix));
  }
  page.truncated = std::string_view(root.child("IsTruncated").text().as_string()) == "true";
  if (page.truncated) {
    page.next_token = Text(root, "NextContinuationToken");
    if (page.next_token.empty()) {
      return Status::Internal("ListObjectsV2: truncated page without NextContinuationToken");
    }
  }
  return page;
}

Result<std::vector<BucketInfo>> ParseListAllMyBuckets(std::string_view body,
                                                      std::string* next_token) {
  pugi::xml_document doc;
  if (!Load(&doc, body)) return Status::Internal("ListBuckets: unparseable XML response");
  pugi::xml_node root = doc.child("ListAllMyBucketsResult");
  if (!root) return Status::Internal("ListBuckets: no <ListAllMyBucketsResult> in response");
  std::vector<BucketInfo> buckets;
  for (pugi::xml_node b : root.child("Buckets").children("Bucket")) {
    buckets.push_back({Text(b, "Name"), ParseIso8601Ns(Text(b, "CreationDate"))});
  }
  *next_token = Text(root, "ContinuationToken");
  return buckets;
}

Result<std::string> ParseInitiateMultipartUpload(std::string_view body) {
  pugi::xml_document doc;
  std::string id;
  if (Load(&doc, body)) id = Text(doc.child("InitiateMultipartUploadResult"), "UploadId");
  if (id.empty()) return Status::Internal("CreateMultipartUpload: no UploadId in response");
  return id;
}

std::string BuildCompleteMultipartUpload(const std::vector<std::pair<int, std::string>>& parts) {
  std::string xml = "<CompleteMultipartUpload>";
  for (const auto& [number, etag] : parts) {
    xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>", number, etag);
  }
  xml += "</CompleteMultipartUpload>";
  return xml;
}

Result<std::string> ParseCompleteMultipartUpload(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(&doc, body)) return Status::Internal("CompleteMultipartUpload: unparseable response");
  if (pugi::xml_node err = doc.child("Error")) {
    std::string msg =
        fmt::format("CompleteMultipartUpload: {}: {}", Text(err, "Code"), Text(err, "Message"));
    std::string code = Text(err, "Code");
    if (code == "InternalError" || code == "SlowDown") return Status::Unavailable(msg);
    return Status::Internal(msg);
  }
  std::string etag = Unquote(Text(doc.child("CompleteMultipartUploadResult"), "ETag"));
  if (etag.empty()) return Status::Internal("CompleteMultipartUpload: no ETag in response");
  return etag;
}

}  // namespace sluice::ufs
