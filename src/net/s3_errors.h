// S3 errors: the one place where a Sluice Status becomes an S3 error (HTTP status +
// S3 error code) and where S3's XML error document is rendered.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice::net {

struct S3Error {
  int http_status = 500;
  std::string code = "InternalError";  // S3's code: NoSuchKey, AccessDenied, ...
  std::string message;

  static S3Error Of(int http_status, std::string code, std::string message) {
    return S3Error{http_status, std::move(code), std::move(message)};
  }
};

// kNotFound -> 404 NoSuchKey (or NoSuchBucket when `is_bucket`), kPermissionDenied ->
// 403 AccessDenied, kInvalidArgument -> 400 InvalidArgument, kFailedPrecondition -> 412
// PreconditionFailed, kOutOfRange -> 416 InvalidRange, kResourceExhausted -> 503
// SlowDown, kUnavailable/kDeadlineExceeded -> 503 ServiceUnavailable, kUnimplemented ->
// 501 NotImplemented, kAlreadyExists -> 409 BucketAlreadyOwnedByYou, others -> 500.
// A kInvalidArgument whose message starts with one of S3's 400 codes and a colon
// ("MalformedXML: ...", "InvalidPartOrder: ...", "InvalidPart: ...", "EntityTooSmall: ...",
// "InvalidRequest: ...", "InvalidDigest: ...", "BadDigest: ...", "KeyTooLongError: ...",
// "EntityTooLarge: ...", "InvalidBucketName: ...", "MissingContentLength: ...",
// "XAmzContentSHA256Mismatch: ...") keeps that code. kResourceExhausted is 503 SlowDown.
S3Error S3ErrorFromStatus(const Status& status, bool is_bucket = false);

// <?xml ...?><Error><Code>..</Code><Message>..</Message><Resource>..</Resource>
// <RequestId>..</RequestId></Error>, with XML escaping.
std::string RenderS3ErrorXml(const S3Error& error, std::string_view resource,
                             std::string_view request_id);

// XML-escapes text content (&, <, >, ", ').
std::string XmlEscape(std::string_view s);

}  // namespace sluice::net
