// The XML bodies of the S3 REST API that the S3 store and store root read and write:
// ListObjectsV2 and ListBuckets results, error documents, multipart upload initiation and
// completion. Parsed with pugixml; never throws.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/status.h"
#include "ufs/store_root.h"
#include "ufs/under_store.h"

namespace sluice::ufs {

// An S3 <Error> document: Code ("NoSuchKey", "SlowDown"...) and Message; both empty if
// the body is not one.
struct S3Error {
  std::string code;
  std::string message;
};
S3Error ParseS3Error(std::string_view body);

// A ListBucketResult. Keys and prefixes have `strip_prefix` removed (the store's prefix);
// etags lose their quotes. next_token is NextContinuationToken.
Result<ListPage> ParseListObjectsV2(std::string_view body, std::string_view strip_prefix);

// A ListAllMyBucketsResult: the buckets (CreationDate as ns since the epoch) and, in
// *next_token, its ContinuationToken ("" when this is the last page).
Result<std::vector<BucketInfo>> ParseListAllMyBuckets(std::string_view body,
                                                      std::string* next_token);

// The UploadId of an InitiateMultipartUploadResult.
Result<std::string> ParseInitiateMultipartUpload(std::string_view body);

// A CompleteMultipartUpload request body from (part number, ETag) pairs in order.
std::string BuildCompleteMultipartUpload(const std::vector<std::pair<int, std::string>>& parts);

// The ETag (unquoted) of a CompleteMultipartUploadResult. S3 may answer 200 with an
// <Error> body: that becomes kUnavailable (InternalError, SlowDown) or kInternal.
Result<std::string> ParseCompleteMultipartUpload(std::string_view body);

}  // namespace sluice::ufs
