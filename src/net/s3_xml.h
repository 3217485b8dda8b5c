// The S3 API's XML bodies: rendering responses and parsing requests (pugixml).
// Shapes follow the S3 API reference (namespace http://s3.amazonaws.com/doc/2006-03-01/).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/status.h"

namespace sluice::net {

struct S3ObjectEntry {
  std::string key;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // rendered as ISO 8601 LastModified
  std::string etag;      // unquoted; rendered quoted
};

struct S3BucketEntry {
  std::string name;
  int64_t creation_ns = 0;
};

std::string RenderListBuckets(const std::vector<S3BucketEntry>& buckets);

struct ListObjectsResult {
  bool v2 = true;
  std::string bucket, prefix, delimiter;
  int max_keys = 1000;
  bool truncated = false;
  bool url_encode = false;  // encoding-type=url: keys, prefixes and delimiter URL-encoded
  // v2
  std::string continuation_token, next_continuation_token, start_after;
  // v1
  std::string marker, next_marker;
  std::vector<S3ObjectEntry> objects;
  std::vector<std::string> common_prefixes;
};
// ListBucketResult for v2 (KeyCount, ContinuationToken, ...) or v1 (Marker, NextMarker).
std::string RenderListObjects(const ListObjectsResult& result);

std::string RenderInitiateMultipartUpload(std::string_view bucket, std::string_view key,
                                          std::string_view upload_id);

struct CompletedPart {
  int part_number = 0;
  std::string etag;  // unquoted
};
// <CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part>...
// kInvalidArgument (MalformedXML) on bad XML, no parts, or parts not in ascending order.
Result<std::vector<CompletedPart>> ParseCompleteMultipartUpload(std::string_view xml);
std::string RenderCompleteMultipartUpload(std::string_view location, std::string_view bucket,
                                          std::string_view key, std::string_view etag);

struct PartEntry {
  int part_number = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string etag;
};
// One page of parts: those after `part_number_marker`, at most `max_parts`; `truncated`
// when more follow (NextPartNumberMarker is the last part listed).
std::string RenderListParts(std::string_view bucket, std::string_view key,
                            std::string_view upload_id, const std::vector<PartEntry>& parts,
                            int part_number_marker = 0, int max_parts = 1000,
                            bool truncated = false);

struct UploadEntry {
  std::string key;
  std::string upload_id;
  int64_t initiated_ns = 0;
};
std::string RenderListMultipartUploads(std::string_view bucket, std::string_view prefix,
                                       const std::vector<UploadEntry>& uploads, int max_uploads,
                                       bool truncated);

struct DeleteObjectsRequest {
  std::vector<std::string> keys;
  bool quiet = false;
};
// <Delete><Quiet>true</Quiet><Object><Key>k</Key></Object>...</Delete>; at most 1000 keys.
Result<DeleteObjectsRequest> ParseDeleteObjects(std::string_view xml);
struct DeleteError {
  std::string key, code, message;
};
std::string RenderDeleteResult(const std::vector<std::string>& deleted,
                               const std::vector<DeleteError>& errors, bool quiet);

// ISO 8601 with milliseconds ("2026-11-24T19:20:36.000Z") and RFC 7231 HTTP dates.
std::string Iso8601(int64_t unix_ns);
std::string HttpDate(int64_t unix_ns);
// Parses an RFC 7231 date (also RFC 850 / asctime forms, and numeric zones such as
// "-0000") into unix nanoseconds; -1 on failure.
int64_t ParseHttpDate(std::string_view s);

}  // namespace sluice::net
