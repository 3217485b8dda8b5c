// S3 store root: an S3 endpoint without a bucket (s3:// or s3://?endpoint=URL...).
//
//   ListBuckets   GET / (ListAllMyBucketsResult, following ContinuationToken)
//   CreateBucket  HEAD /bucket (an existing bucket is kAlreadyExists: AWS us-east-1 answers
//                 200 to re-creating a bucket one owns), then PUT /bucket, with a
//                 LocationConstraint outside us-east-1
//   DeleteBucket  DELETE /bucket (404 kNotFound; 409 BucketNotEmpty kFailedPrecondition)
//   OpenBucket    HEAD /bucket, then an S3Store on s3://bucket with this root's settings
// Requests share one pooled, retrying CurlClient and are signed like S3Store's.
#include <fmt/format.h>

#include <set>
#include <utility>

#include "ufs/s3_store.h"
#include "ufs/s3_xml.h"
#include "ufs/store_root_impl.h"

namespace sluice::ufs {
namespace {

constexpr int kMaxListPages = 10'000;

class S3Root : public StoreRoot {
 public:
  S3Root(S3Config config, const S3Options& options)
      : config_(std::move(config)), options_(options), client_(S3ClientOptions(config_, options)) {}

  const std::string& Uri() const override { return config_.uri; }

  Result<std::vector<BucketInfo>> ListBuckets() override {
    std::vector<BucketInfo> buckets;
    std::string token;
    std::set<std::string> seen_tokens;
    for (int page = 0; page < kMaxListPages; ++page) {
      std::string url = config_.endpoint + "/";
      if (!token.empty()) url += "?continuation-token=" + UriEncode(token, false);
      Result<HttpResponse> r = client_.Perform(NewS3Request(config_, "GET", url));
      if (!r.ok()) return r.status().WithContext("ListBuckets");
      if (r->status != 200) return ErrorOf(*r, "ListBuckets", "");
      std::string next;
      SLUICE_ASSIGN_OR_RETURN(std::vector<BucketInfo> part, ParseListAllMyBuckets(r->body, &next));
      for (BucketInfo& b : part) buckets.push_back(std::move(b));
      if (next.empty() || !seen_tokens.insert(next).second) break;
      token = std::move(next);
    }
    return buckets;
  }

  Status CreateBucket(std::string_view name) override {
    SLUICE_RETURN_IF_ERROR(ValidateBucketName(name));
    Result<HttpResponse> head = client_.Perform(NewS3Request(config_, "HEAD", BucketUrl(name)));
    if (!head.ok()) return head.status().WithContext(fmt::format("CreateBucket '{}'", name));
    // 200: ours. A 403 says nothing yet (someone else's bucket, or credentials that may
    // not look): the PUT's answer tells (409 BucketAlreadyExists, or 403 AccessDenied).
    if (head->status == 200) {
      return Status::AlreadyExists(
          fmt::format("BucketAlreadyExists: CreateBucket {} '{}'", config_.uri, name));
    }
    std::string body;
    if (config_.region != "us-east-1") {
      body = fmt::format(
          "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
          "<LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
          config_.region);
    }
    HttpRequest req = NewS3Request(config_, "PUT", BucketUrl(name));
    req.body = body;
    Result<HttpResponse> r = client_.Perform(req);
    if (!r.ok()) return r.status().WithContext(fmt::format("CreateBucket '{}'", name));
    if (r->status / 100 == 2) return Status::OK();
    if (r->status == 409) {
      S3Error err = ParseS3Error(r->body);
      if (err.code == "BucketAlreadyOwnedByYou" || err.code == "BucketAlreadyExists") {
        return Status::AlreadyExists(
            fmt::format("{}: CreateBucket {} '{}'", err.code, config_.uri, name));
      }
    }
    return ErrorOf(*r, "CreateBucket", name);
  }

  Status DeleteBucket(std::string_view name) override {
    SLUICE_RETURN_IF_ERROR(ValidateBucketName(name));
    Result<HttpResponse> r = client_.Perform(NewS3Request(config_, "DELETE", BucketUrl(name)));
    if (!r.ok()) return r.status().WithContext(fmt::format("DeleteBucket '{}'", name));
    if (r->status / 100 == 2) return Status::OK();
    if (r->status == 409) {
      S3Error err = ParseS3Error(r->body);
      if (err.code == "BucketNotEmpty") {
        return Status::FailedPrecondition(fmt::format(
            "BucketNotEmpty: DeleteBucket {} '{}': the bucket holds objects", config_.uri, name));
      }
    }
    return ErrorOf(*r, "DeleteBucket", name);
  }

  Result<std::unique_ptr<UnderStore>> OpenBucket(std::string_view name) override {
    SLUICE_RETURN_IF_ERROR(ValidateBucketName(name));
    Result<HttpResponse> r = client_.Perform(NewS3Request(config_, "HEAD", BucketUrl(name)));
    if (!r.ok()) return r.status().WithContext(fmt::format("OpenBucket '{}'", name));
    if (r->status != 200) return ErrorOf(*r, "OpenBucket", name);
    S3Config bucket = config_;
    bucket.bucket = std::string(name);
    bucket.prefix.clear();
    bucket.uri = "s3://" + bucket.bucket;
    return std::unique_ptr<UnderStore>(new S3Store(std::move(bucket), options_));
  }

 private:
  // Bucket-level requests: http://endpoint/bucket (path style) or https://bucket.endpoint/.
  std::string BucketUrl(std::string_view name) const {
    S3Config c = config_;
    c.bucket = std::string(name);
    std::string url = c.BucketUrl();
    if (c.addressing == "path") url.pop_back();
    return url;
  }

  // "ListBuckets s3:// 'b': HTTP 404: NoSuchBucket: message", with HttpError's code
  // (a HEAD has no body: its 404 becomes "NoSuchBucket").
  Status ErrorOf(const HttpResponse& response, std::string_view op, std::string_view name) const {
    S3Error err = ParseS3Error(response.body);
    if (err.code.empty() && response.status == 404) err.code = "NoSuchBucket";
    std::string detail = err.code;
    if (!err.message.empty()) detail += ": " + err.message;
    return HttpError(response.status, fmt::format("{} {} '{}'", op, config_.uri, name), detail);
  }

  const S3Config config_;
  const S3Options options_;
  CurlClient client_;
};

}  // namespace

Result<std::unique_ptr<StoreRoot>> OpenS3Root(std::string_view uri, const S3Options& options) {
  SLUICE_ASSIGN_OR_RETURN(S3Config config,
                          ResolveS3Config(uri, options, ProcessEnv, BucketRule::kNone));
  return std::unique_ptr<StoreRoot>(new S3Root(std::move(config), options));
}

}  // namespace sluice::ufs
