// Rendering of the S3 API's XML response bodies (declared in s3_xml.h). The request
// parsers live in s3_xml_parse.cc, the date helpers in s3_time.cc.

#include "net/s3_xml.h"

#include <string>
#include <string_view>

#include "net/s3_errors.h"

namespace sluice::net {
namespace {

constexpr std::string_view kXmlDecl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
constexpr std::string_view kXmlns = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
// Sluice has one owner for everything it serves; clients (s3cmd, awscli's `ls`) print
// these fields but never act on them.
constexpr std::string_view kOwnerId = "sluice";
constexpr std::string_view kOwnerName = "sluice";

// Builds an XML document of escaped elements.
class XmlOut {
 public:
  explicit XmlOut(std::string_view root) {
    out_ += kXmlDecl;
    out_ += '<';
    out_ += root;
    out_ += kXmlns;
    out_ += '>';
  }
  XmlOut& Open(std::string_view name) {
    out_ += '<';
    out_ += name;
    out_ += '>';
    return *this;
  }
  XmlOut& Close(std::string_view name) {
    out_ += "</";
    out_ += name;
    out_ += '>';
    return *this;
  }
  // <name>escaped text</name>
  XmlOut& Elem(std::string_view name, std::string_view text) {
    Open(name);
    out_ += XmlEscape(text);
    return Close(name);
  }
  XmlOut& Elem(std::string_view name, uint64_t n) { return Elem(name, std::to_string(n)); }
  XmlOut& Bool(std::string_view name, bool b) { return Elem(name, b ? "true" : "false"); }
  XmlOut& ETag(std::string_view etag) { return Elem("ETag", Quoted(etag)); }
  XmlOut& Owner(std::string_view name = "Owner") {
    Open(name).Elem("ID", kOwnerId).Elem("DisplayName", kOwnerName);
    return Close(name);
  }
  std::string Finish(std::string_view root) {
    Close(root);
    return std::move(out_);
  }

  static std::string Quoted(std::string_view etag) {
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') return std::string(etag);
    std::string q = "\"";
    q += etag;
    q += '"';
    return q;
  }

 private:
  std::string out_;
};

// encoding-type=url: S3 percent-encodes every byte but unreserved characters and '/';
// botocore decodes with unquote_plus, so '+' and ' ' must both be escaped.
std::string UrlEncodeKey(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string RenderListBuckets(const std::vector<S3BucketEntry>& buckets) {
  XmlOut x("ListAllMyBucketsResult");
  x.Owner().Open("Buckets");
  for (const S3BucketEntry& b : buckets) {
    x.Open("Bucket").Elem("Name", b.name).Elem("CreationDate", Iso8601(b.creation_ns));
    x.Close("Bucket");
  }
  x.Close("Buckets");
  return x.Finish("ListAllMyBucketsResult");
}

std::string RenderListObjects(const ListObjectsResult& r) {
  auto enc = [&](std::string_view s) { return r.url_encode ? UrlEncodeKey(s) : std::string(s); };
  XmlOut x("ListBucketResult");
  x.Elem("Name", r.bucket).Elem("Prefix", enc(r.prefix));
  if (r.v2) {
    if (!r.continuation_token.empty()) x.Elem("ContinuationToken", r.continuation_token);
    if (r.truncated && !r.next_continuation_token.empty()) {
      x.Elem("NextContinuationToken", r.next_continuation_token);
    }
    if (!r.start_after.empty()) x.Elem("StartAfter", enc(r.start_after));
    x.Elem("KeyCount", r.objects.size() + r.common_prefixes.size());
  } else {
    x.Elem("Marker", enc(r.marker));
    // S3 sends NextMarker only with a delimiter; without one, the next marker is the
    // last key listed.
    if (r.truncated && !r.delimiter.empty() && !r.next_marker.empty()) {
      x.Elem("NextMarker", enc(r.next_marker));
    }
  }
  x.Elem("MaxKeys", static_cast<uint64_t>(r.max_keys < 0 ? 0 : r.max_keys));
  if (!r.delimiter.empty()) x.Elem("Delimiter", enc(r.delimiter));
  if (r.url_encode) x.Elem("EncodingType", "url");
  x.Bool("IsTruncated", r.truncated);
  for (const S3ObjectEntry& o : r.objects) {
    x.Open("Contents")
        .Elem("Key", enc(o.key))
        .Elem("LastModified", Iso8601(o.mtime_ns))
        .ETag(o.etag)
        .Elem("Size", o.size);
    if (!r.v2) x.Owner();  // v1 always lists the owner; v2 only with fetch-owner
    x.Elem("StorageClass", "STANDARD").Close("Contents");
  }
  for (const std::string& p : r.common_prefixes) {
    x.Open("CommonPrefixes").Elem("Prefix", enc(p)).Close("CommonPrefixes");
  }
  return x.Finish("ListBucketResult");
}

std::string RenderInitiateMultipartUpload(std::string_view bucket, std::string_view key,
                                          std::string_view upload_id) {
  XmlOut x("InitiateMultipartUploadResult");
  x.Elem("Bucket", bucket).Elem("Key", key).Elem("UploadId", upload_id);
  return x.Finish("InitiateMultipartUploadResult");
}

std::string RenderCompleteMultipartUpload(std::string_view location, std::string_view bucket,
                                          std::string_view key, std::string_view etag) {
  XmlOut x("CompleteMultipartUploadResult");
  x.Elem("Location", location).Elem("Bucket", bucket).Elem("Key", key).ETag(etag);
  return x.Finish("CompleteMultipartUploadResult");
}

std::string RenderListParts(std::string_view bucket, std::string_view key,
                            std::string_view upload_id, const std::vector<PartEntry>& parts,
                            int part_number_marker, int max_parts, bool truncated) {
  XmlOut x("ListPartsResult");
  x.Elem("Bucket", bucket).Elem("Key", key).Elem("UploadId", upload_id);
  x.Owner("Initiator").Owner().Elem("StorageClass", "STANDARD");
  x.Elem("PartNumberMarker", static_cast<uint64_t>(part_number_marker));
  const uint64_t next = parts.empty() ? 0 : static_cast<uint64_t>(parts.back().part_number);
  x.Elem("NextPartNumberMarker", next)
      .Elem("MaxParts", static_cast<uint64_t>(max_parts))
      .Bool("IsTruncated", truncated);
  for (const PartEntry& p : parts) {
    x.Open("Part")
        .Elem("PartNumber", static_cast<uint64_t>(p.part_number))
        .Elem("LastModified", Iso8601(p.mtime_ns))
        .ETag(p.etag)
        .Elem("Size", p.size)
        .Close("Part");
  }
  return x.Finish("ListPartsResult");
}

std::string RenderListMultipartUploads(std::string_view bucket, std::string_view prefix,
                                       const std::vector<UploadEntry>& uploads, int max_uploads,
                                       bool truncated) {
  XmlOut x("ListMultipartUploadsResult");
  x.Elem("Bucket", bucket).Elem("KeyMarker", "").Elem("UploadIdMarker", "");
  x.Elem("NextKeyMarker", uploads.empty() ? std::string_view() : uploads.back().key);
  x.Elem("NextUploadIdMarker", uploads.empty() ? std::string_view() : uploads.back().upload_id);
  x.Elem("Prefix", prefix).Elem("MaxUploads", static_cast<uint64_t>(max_uploads));
  x.Bool("IsTruncated", truncated);
  for (const UploadEntry& u : uploads) {
    x.Open("Upload").Elem("Key", u.key).Elem("UploadId", u.upload_id);
    x.Owner("Initiator").Owner().Elem("StorageClass", "STANDARD");
    x.Elem("Initiated", Iso8601(u.initiated_ns)).Close("Upload");
  }
  return x.Finish("ListMultipartUploadsResult");
}

std::string RenderDeleteResult(const std::vector<std::string>& deleted,
                               const std::vector<DeleteError>& errors, bool quiet) {
  XmlOut x("DeleteResult");
  if (!quiet) {
    for (const std::string& k : deleted) x.Open("Deleted").Elem("Key", k).Close("Deleted");
  }
  for (const DeleteError& e : errors) {
    x.Open("Error").Elem("Key", e.key).Elem("Code", e.code).Elem("Message", e.message);
    x.Close("Error");
  }
  return x.Finish("DeleteResult");
}

}  // namespace sluice::net
