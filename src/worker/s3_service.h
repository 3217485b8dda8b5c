// S3Service: the worker's S3-compatible API (path-style; bucket = mount name). Any S3
// client (boto3, awscli, s3cmd, Spark s3a) can read and write the namespace through it.
//
// Operations: ListBuckets, HeadBucket, GetBucketLocation, ListObjectsV2, ListObjects (v1),
// GetObject (ranges, conditionals), HeadObject, PutObject, CreateMultipartUpload,
// UploadPart, CompleteMultipartUpload, AbortMultipartUpload, ListParts, DeleteObject,
// DeleteObjects. CreateBucket/DeleteBucket pass through to a whole-store mount (the first
// one, when several are configured); for named mounts they only answer. Errors are S3
// XML error documents (net/s3_errors.h is the one mapping from Status).
//
// Reads go through the ReadThroughCache; listings through a TTL cache of list pages;
// writes through WriteThrough (pages cached on the way). Requests are SigV4-verified
// when credentials are configured (net/sigv4.h).
//
// Thread-safety: Handle is called concurrently from handler threads.
#pragma once

#include <array>
#include <atomic>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "common/metrics.h"
#include "net/http.h"
#include "worker/object_stream.h"
#include "net/s3_errors.h"
#include "net/sigv4.h"
#include "worker/listing_cache.h"
#include "worker/multipart.h"
#include "worker/read_through.h"
#include "worker/write_through.h"

namespace sluice::worker {

struct S3ServiceOptions {
  std::map<std::string, std::string> credentials;  // access key -> secret; empty: no auth
  Duration max_clock_skew = std::chrono::minutes(15);
  Duration listing_ttl = std::chrono::seconds(30);
  size_t listing_cache_entries = 10000;
  uint64_t max_part_bytes = 5ULL * kGiB;
  uint64_t max_xml_body = 2 * kMiB;  // Delete / CompleteMultipartUpload bodies
  uint64_t read_chunk = 1 * kMiB;    // GET responses are streamed in chunks of this size
  // Largest response served on an I/O thread. It is sent from the cached pages without a
  // copy: what the socket did not take holds page references, so pages evicted meanwhile
  // stay in memory (outside the tier's budget) until sent, at most this much per
  // connection.
  uint64_t max_inline_bytes = 4 * kMiB;
  // A CompleteMultipartUpload still streaming its parts after this long answers 200 at
  // once and sends a space every this long until its result (S3 does so): clients with a
  // 60 s read timeout (botocore) would give up on large objects, then retry into
  // NoSuchUpload. An error after that is a 200 whose body is the <Error> (as S3's).
  Duration complete_keepalive = std::chrono::seconds(5);
  BlockSource* blocks = nullptr;  // stripes large objects over the cluster; not owned
};

class S3Service {
 public:
  S3Service(S3ServiceOptions options, std::shared_ptr<ufs::MountTable> mounts,
            std::shared_ptr<ReadThroughCache> cache, std::shared_ptr<WriteThrough> writes,
            std::shared_ptr<MultipartUploads> uploads, metrics::Registry* registry,
            Clock* clock = Clock::Real());

  void Handle(const net::HttpRequest& req, net::BodyReader& body, net::ResponseWriter& out);
  // The I/O-thread fast path (net::InlineHandler): answers a GET/HEAD of a small object
  // whose stat is cached and whose pages are in memory, without blocking; returns false
  // (having written nothing) for anything else, which then goes to Handle.
  bool TryInline(const net::HttpRequest& req, net::ResponseWriter& out);

  // Forgets cached listings of a mount (after writes and deletes, and on `sluice free`).
  void InvalidateListings(std::string_view mount) { listings_->Invalidate(mount); }
  // The listing cache, shared with the /v1 API.
  const std::shared_ptr<ListingCache>& listings() const { return listings_; }

 private:
  struct Call;  // one request being served
  void Dispatch(Call& c);
  // Answers 501 NotImplemented, and returns true, when the request names an S3
  // sub-resource (?tagging, ?acl, ?versionId=...) other than those in `taken`: such a
  // request is never served as the plain operation on its object or bucket.
  bool RefuseSubresources(Call& c, std::initializer_list<std::string_view> taken);
  void SendError(Call& c, const net::S3Error& e);
  void SendStatusError(Call& c, const Status& s, bool is_bucket = false);
  // The S3 error a Status stands for (a message "Code: text" names the code).
  net::S3Error ErrorFor(Call& c, const Status& s, bool is_bucket = false) const;

  // For a PutObject or CompleteMultipartUpload with If-Match or If-None-Match: stats the
  // key afresh and, when the write must not happen, answers 412 PreconditionFailed or 404
  // NoSuchKey and returns true. Checked just before the write, not atomically with it.
  bool RefuseConditionalWrite(Call& c);

  // Reads the count query parameter `name` into *out (unchanged when absent), at most
  // `max`; answers 400 InvalidArgument and returns false when it is not a non-negative
  // integer.
  bool ParseCount(Call& c, std::string_view name, int max, int* out);

  void ListBuckets(Call& c);
  void BucketOp(Call& c);
  void ListObjects(Call& c, bool v2);
  void ListUploads(Call& c);  // ListMultipartUploads

  void GetObject(Call& c, bool head);
  void PutObject(Call& c);
  void DeleteObject(Call& c);
  void DeleteObjects(Call& c);
  void CreateMultipart(Call& c);
  void UploadPart(Call& c);
  void CompleteMultipart(Call& c);
  void AbortMultipart(Call& c);
  void ListParts(Call& c);

  const S3ServiceOptions options_;
  std::shared_ptr<ufs::MountTable> mounts_;
  std::shared_ptr<ReadThroughCache> cache_;
  std::shared_ptr<WriteThrough> writes_;
  std::shared_ptr<MultipartUploads> uploads_;
  Clock* const clock_;
  std::optional<net::SigV4Verifier> verifier_;

  std::shared_ptr<ListingCache> listings_;

  metrics::Registry* registry_;
  metrics::Counter* inline_requests_ = nullptr;
  // sluice_s3_requests_total{op, status} and sluice_s3_request_seconds{op}, looked up in the
  // registry once per pair or op.
  metrics::Counter* CounterFor(std::string_view op, int status);
  metrics::Histogram* HistogramFor(std::string_view op);
  std::mutex counters_mu_;
  std::map<std::pair<std::string, int>, metrics::Counter*, std::less<>> counters_;  // GUARDED_BY(counters_mu_)
  std::map<std::string, metrics::Histogram*, std::less<>> histograms_;  // GUARDED_BY(counters_mu_)
  // The inline path's counters, found before serving (no lock per request): GetObject and
  // HeadObject, each 200 and 206.
  std::array<std::array<metrics::Counter*, 2>, 2> inline_counters_{};
  std::atomic<uint64_t> request_ids_{0};
};

// `id` as the 16 upper-case hex digits of an x-amz-request-id, written into `buf`.
std::string_view RequestId(uint64_t id, char (&buf)[16]);

// The ETag clients see for an object: the store's, or a stable hex digest of the version
// for stores without ETags (file://).
std::string S3ETag(const ufs::ObjectInfo& info);

}  // namespace sluice::worker
