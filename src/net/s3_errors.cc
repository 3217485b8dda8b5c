#include "net/s3_errors.h"

#include <string>

namespace sluice::net {
namespace {

// S3's 400 codes that a kInvalidArgument message may carry as a "Code: ..." prefix.
constexpr std::string_view kTaggedCodes[] = {
    "MalformedXML",      "InvalidPartOrder",     "InvalidPart",
    "EntityTooSmall",    "InvalidRequest",       "InvalidDigest",
    "BadDigest",         "KeyTooLongError",      "EntityTooLarge",
    "InvalidBucketName", "MissingContentLength", "XAmzContentSHA256Mismatch",
};

std::string_view TaggedCode(std::string_view message) {
  const size_t colon = message.find(':');
  if (colon == std::string_view::npos) return {};
  const std::string_view head = message.substr(0, colon);
  for (std::string_view code : kTaggedCodes) {
    if (head == code) return code;
  }
  return {};
}

}  // namespace

S3Error S3ErrorFromStatus(const Status& status, bool is_bucket) {
  const std::string& m = status.message();
  switch (status.code()) {
    case StatusCode::kOk:
      return S3Error::Of(200, "", "");
    case StatusCode::kNotFound:
      return is_bucket ? S3Error::Of(404, "NoSuchBucket",
                                     m.empty() ? "The specified bucket does not exist" : m)
                       : S3Error::Of(404, "NoSuchKey",
                                     m.empty() ? "The specified key does not exist." : m);
    case StatusCode::kPermissionDenied:
      return S3Error::Of(403, "AccessDenied", m.empty() ? "Access Denied" : m);
    case StatusCode::kInvalidArgument:
      if (std::string_view code = TaggedCode(m); !code.empty()) {
        return S3Error::Of(400, std::string(code), m);
      }
      return S3Error::Of(400, "InvalidArgument", m);
    case StatusCode::kFailedPrecondition:
      return S3Error::Of(
          412, "PreconditionFailed",
          m.empty() ? "At least one of the pre-conditions you specified did not hold" : m);
    case StatusCode::kOutOfRange:
      return S3Error::Of(416, "InvalidRange",
                         m.empty() ? "The requested range is not satisfiable" : m);
    case StatusCode::kResourceExhausted:
      return S3Error::Of(503, "SlowDown", m.empty() ? "Please reduce your request rate." : m);
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return S3Error::Of(503, "ServiceUnavailable",
                         m.empty() ? "Please reduce your request rate." : m);
    case StatusCode::kUnimplemented:
      return S3Error::Of(501, "NotImplemented",
                         m.empty() ? "A header you provided implies functionality that is not "
                                     "implemented"
                                   : m);
    case StatusCode::kAlreadyExists:
      return S3Error::Of(409, "BucketAlreadyOwnedByYou",
                         m.empty() ? "Your previous request to create the named bucket "
                                     "succeeded and you already own it."
                                   : m);
    case StatusCode::kDataLoss:
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      break;
  }
  return S3Error::Of(500, "InternalError",
                     m.empty() ? "We encountered an internal error. Please try again." : m);
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // C0 controls as character references (what S3 does); clients that may meet
        // them in keys ask for encoding-type=url.
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "&#" + std::to_string(static_cast<int>(c)) + ";";
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string RenderS3ErrorXml(const S3Error& error, std::string_view resource,
                             std::string_view request_id) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>";
  out += XmlEscape(error.code);
  out += "</Code><Message>";
  out += XmlEscape(error.message);
  out += "</Message><Resource>";
  out += XmlEscape(resource);
  out += "</Resource><RequestId>";
  out += XmlEscape(request_id);
  out += "</RequestId></Error>";
  return out;
}

}  // namespace sluice::net
