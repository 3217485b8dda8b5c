#include "worker/s3_service.h"

#include <algorithm>
#include <charconv>
#include <set>

#include <fmt/format.h>

#include "common/digest.h"
#include "common/hash.h"
#include "common/logging.h"
#include "net/s3_xml.h"
#include "worker/s3_call.h"

namespace sluice::worker {
namespace {

constexpr std::string_view kXml = "application/xml";

// Body reader that hashes what it reads and, at the end of the body, fails with
// XAmzContentSHA256Mismatch if the hash is not the one the request signed.
class HashingReader : public net::BodyReader {
 public:
  HashingReader(net::BodyReader* inner, std::string expected)
      : inner_(inner), expected_(std::move(expected)) {}
  Result<size_t> Read(std::span<char> out) override {
    SLUICE_ASSIGN_OR_RETURN(size_t n, inner_->Read(out));
    if (n > 0) {
      hasher_.Update(std::string_view(out.data(), n));
    } else if (!finished_) {
      finished_ = true;
      if (hasher_.HexDigest() != expected_) {
        return Status::InvalidArgument(
            "XAmzContentSHA256Mismatch: the body does not match x-amz-content-sha256");
      }
    }
    return n;
  }

 private:
  net::BodyReader* inner_;
  std::string expected_;
  net::PayloadHasher hasher_;
  bool finished_ = false;
};

// S3 codes that Sluice carries in a Status message as "Code: text".
struct CodeInfo {
  std::string_view code;
  int http_status;
};
constexpr CodeInfo kKnownCodes[] = {
    {"NoSuchUpload", 404},     {"InvalidPart", 400},        {"InvalidPartOrder", 400},
    {"MalformedXML", 400},     {"EntityTooLarge", 400},     {"XAmzContentSHA256Mismatch", 400},
    {"BadDigest", 400},        {"InvalidArgument", 400},    {"NotImplemented", 501},
    {"InvalidBucketName", 400}, {"NoSuchBucket", 404},     {"BucketNotEmpty", 409},
    {"BucketAlreadyOwnedByYou", 409},
};

}  // namespace

std::string_view RequestId(uint64_t id, char (&buf)[16]) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int i = 15; i >= 0; --i, id >>= 4) buf[i] = kHex[id & 0xf];
  return std::string_view(buf, sizeof(buf));
}

std::string S3ETag(const ufs::ObjectInfo& info) {
  if (!info.etag.empty()) return info.etag;
  Hash128 h = Hash128Of(info.Version());
  return h.ToHex();
}

S3Service::S3Service(S3ServiceOptions options, std::shared_ptr<ufs::MountTable> mounts,
                     std::shared_ptr<ReadThroughCache> cache, std::shared_ptr<WriteThrough> writes,
                     std::shared_ptr<MultipartUploads> uploads, metrics::Registry* registry,
                     Clock* clock)
    : options_(std::move(options)),
      mounts_(std::move(mounts)),
      cache_(std::move(cache)),
      writes_(std::move(writes)),
      uploads_(std::move(uploads)),
      clock_(clock),
      listings_(std::make_shared<ListingCache>(options_.listing_ttl, options_.listing_cache_entries,
                                               clock)),
      registry_(registry) {
  if (!options_.credentials.empty()) verifier_.emplace(options_.credentials, options_.max_clock_skew);
  if (registry_ != nullptr) {
    inline_requests_ = registry_->GetCounter(
        "sluice_s3_inline_requests_total", "S3 GETs answered on an I/O thread from memory.");
    for (int head = 0; head < 2; ++head) {
      for (int partial = 0; partial < 2; ++partial) {
        inline_counters_[head][partial] =
            CounterFor(head ? "HeadObject" : "GetObject", partial ? 206 : 200);
      }
    }
  }
}

void S3Service::Handle(const net::HttpRequest& req, net::BodyReader& body,
                       net::ResponseWriter& out) {
  auto start = clock_->Now();
  Call c(req, &body, out);
  char id[16];
  c.request_id = RequestId(Hash64(req.target, ++request_ids_), id);
  out.SetHeader("x-amz-request-id", c.request_id);
  Dispatch(c);
  if (registry_ != nullptr) {
    double secs = std::chrono::duration<double>(clock_->Now() - start).count();
    CounterFor(c.op, c.status)->Inc();
    HistogramFor(c.op)->Observe(secs);
  }
}

metrics::Histogram* S3Service::HistogramFor(std::string_view op) {
  std::lock_guard lock(counters_mu_);
  if (auto it = histograms_.find(op); it != histograms_.end()) return it->second;
  metrics::Histogram* h = registry_->GetHistogram(
      "sluice_s3_request_seconds", "S3 API request latency by operation.", {{"op", std::string(op)}});
  histograms_.emplace(std::string(op), h);
  return h;
}

metrics::Counter* S3Service::CounterFor(std::string_view op, int status) {
  std::lock_guard lock(counters_mu_);
  auto key = std::make_pair(std::string(op), status);
  auto it = counters_.find(key);
  if (it != counters_.end()) return it->second;
  metrics::Counter* c =
      registry_->GetCounter("sluice_s3_requests_total", "S3 API requests by operation and status.",
                            {{"op", key.first}, {"status", std::to_string(status)}});
  counters_.emplace(std::move(key), c);
  return c;
}

void S3Service::SendError(Call& c, const net::S3Error& e) {
  c.status = e.http_status;
  if (c.out.HeadersSent()) return;  // mid-body: the server closes the connection
  c.out.SetHeader("Content-Type", kXml);
  c.out.SetStatus(e.http_status);
  if (c.req.method == "HEAD") {
    c.out.SetHeader("Content-Length", "0");
    (void)c.out.Finish();
    return;
  }
  (void)c.out.Send(e.http_status, kXml, net::RenderS3ErrorXml(e, c.Resource(), c.request_id));
}

void S3Service::SendStatusError(Call& c, const Status& s, bool is_bucket) {
  SendError(c, ErrorFor(c, s, is_bucket));
}

net::S3Error S3Service::ErrorFor(Call& c, const Status& s, bool is_bucket) const {
  net::S3Error e = net::S3ErrorFromStatus(s, is_bucket);
  // A message "Code: text" names the S3 code precisely.
  std::string_view msg = s.message();
  for (const auto& k : kKnownCodes) {
    if (msg.starts_with(k.code) && msg.size() > k.code.size() && msg[k.code.size()] == ':') {
      e.code = std::string(k.code);
      e.http_status = k.http_status;
    }
  }
  if (e.message.empty()) e.message = s.message();
  // A missing key or bucket is told in S3's words: the under store's message names its
  // own URIs and paths, which are no business of the client's (they go to the debug log).
  if (e.code == "NoSuchKey" || e.code == "NoSuchBucket") {
    SLUICE_LOG_DEBUG("{} {}: {}", c.req.method, c.Resource(), s.ToString());
    e.message = e.code == "NoSuchKey" ? "The specified key does not exist."
                                      : "The specified bucket does not exist";
  }
  return e;
}

namespace {

// S3's sub-resources: query keys that select an operation or another view of an object or
// bucket, as opposed to parameters of the operation (prefix, max-keys, response-*, X-Amz-*).
constexpr std::string_view kSubresources[] = {
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption",
    "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location", "logging",
    "metrics", "notification", "object-lock", "ownershipControls", "partNumber", "policy",
    "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore",
    "retention", "select", "session", "tagging", "torrent", "uploadId", "uploads",
    "versionId", "versioning", "versions", "website"};

}  // namespace

bool S3Service::RefuseSubresources(Call& c, std::initializer_list<std::string_view> taken) {
  for (const auto& [k, v] : c.query) {
    if (std::find(std::begin(kSubresources), std::end(kSubresources), k) ==
        std::end(kSubresources)) {
      continue;
    }
    if (std::find(taken.begin(), taken.end(), k) != taken.end()) continue;
    // An unversioned bucket's objects all have the version "null".
    if (k == "versionId" && v == "null" && !c.key.empty()) continue;
    c.op = "unsupported";
    SendError(c, net::S3Error::Of(501, "NotImplemented",
                                  fmt::format("{} ?{} is not supported", c.req.method, k)));
    return true;
  }
  return false;
}

void S3Service::Dispatch(Call& c) {
  // Path-style: /bucket/key. The key is decoded; '+' stays '+'.
  auto path = net::UrlDecode(c.req.path);
  if (!path || path->empty() || (*path)[0] != '/') {
    c.op = "invalid";
    return SendError(c, net::S3Error::Of(400, "InvalidURI", "the request path is not valid"));
  }
  size_t slash = path->find('/', 1);
  c.bucket = path->substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
  c.key = slash == std::string::npos ? "" : path->substr(slash + 1);
  c.query = net::ParseQuery(c.req.query);

  if (verifier_) {
    auto auth = verifier_->Verify(c.req);
    if (auto* err = std::get_if<net::S3Error>(&auth)) {
      c.op = "auth";
      return SendError(c, *err);
    }
    const auto& ok = std::get<net::AuthResult>(auth);
    if (!ok.payload_sha256.empty() && c.req.method != "GET" && c.req.method != "HEAD") {
      c.owned_body = std::make_unique<HashingReader>(c.body, ok.payload_sha256);
      c.body = c.owned_body.get();
    }
  }

  if (c.req.Header("x-amz-content-sha256").starts_with("STREAMING-") ||
      c.req.Header("Content-Encoding").find("aws-chunked") != std::string_view::npos) {
    c.op = "unsupported";
    return SendError(c, net::S3Error::Of(501, "NotImplemented",
                                         "aws-chunked (streaming SigV4) bodies are not supported"));
  }
  const std::string& m = c.req.method;
  if (c.bucket.empty()) {
    c.op = "ListBuckets";
    if (m != "GET") return SendError(c, net::S3Error::Of(405, "MethodNotAllowed", m));
    return ListBuckets(c);
  }
  if (c.key.empty()) return BucketOp(c);
  if (auto mount = mounts_->Resolve("/" + c.bucket); !mount.ok() || !mount->store) {
    c.op = "NoSuchBucket";
    return SendError(c, net::S3Error::Of(404, "NoSuchBucket",
                                         fmt::format("no mount named '{}'", c.bucket)));
  }
  // Each operation below takes exactly the sub-resources it names; any other one is refused,
  // never served as the plain operation (a PUT ?tagging must not overwrite the object).
  if (m == "GET" && c.Has("uploadId")) {
    if (!RefuseSubresources(c, {"uploadId"})) ListParts(c);
    return;
  }
  if (m == "GET" || m == "HEAD") {
    if (!RefuseSubresources(c, {"partNumber"})) GetObject(c, m == "HEAD");
    return;
  }
  if (m == "PUT" && c.Has("uploadId") && c.Has("partNumber")) {
    if (!RefuseSubresources(c, {"uploadId", "partNumber"})) UploadPart(c);
    return;
  }
  if (m == "PUT") {
    if (!RefuseSubresources(c, {})) PutObject(c);
    return;
  }
  if (m == "POST" && c.Has("uploads")) {
    if (!RefuseSubresources(c, {"uploads"})) CreateMultipart(c);
    return;
  }
  if (m == "POST" && c.Has("uploadId")) {
    if (!RefuseSubresources(c, {"uploadId"})) CompleteMultipart(c);
    return;
  }
  if (m == "DELETE" && c.Has("uploadId")) {
    if (!RefuseSubresources(c, {"uploadId"})) AbortMultipart(c);
    return;
  }
  if (m == "DELETE") {
    if (!RefuseSubresources(c, {})) DeleteObject(c);
    return;
  }
  c.op = "unsupported";
  SendError(c, net::S3Error::Of(501, "NotImplemented",
                                fmt::format("{} on an object is not implemented", m)));
}

void S3Service::ListBuckets(Call& c) {
  std::vector<net::S3BucketEntry> buckets;
  std::set<std::string> seen;
  for (const auto& m : mounts_->List()) {
    buckets.push_back({m.name, 0});
    seen.insert(m.name);
  }
  for (const auto& root : mounts_->Roots()) {
    auto list = root.root->ListBuckets();
    if (!list.ok()) return SendStatusError(c, list.status());
    for (const auto& b : *list) {
      if (seen.insert(b.name).second) buckets.push_back({b.name, b.creation_ns});
    }
  }
  c.status = 200;
  (void)c.out.Send(200, kXml, net::RenderListBuckets(buckets));
}

void S3Service::BucketOp(Call& c) {
  const std::string& m = c.req.method;
  c.op = "HeadBucket";
  // The bucket-level sub-resources served: GET ?location, ?versioning, ?uploads and POST
  // ?delete. Anything else (PUT ?versioning, DELETE ?cors, GET ?versions, ...) is refused,
  // never taken for CreateBucket, DeleteBucket or a listing.
  if (m == "GET" && RefuseSubresources(c, {"location", "versioning", "uploads"})) return;
  if (m == "POST" && RefuseSubresources(c, {"delete"})) return;
  if (m != "GET" && m != "POST" && RefuseSubresources(c, {})) return;
  auto r = mounts_->Resolve("/" + c.bucket);
  bool exists = r.ok() && r->store != nullptr;
  auto roots = mounts_->Roots();
  bool named_mount = false;
  for (const auto& mount : mounts_->List()) named_mount = named_mount || mount.name == c.bucket;
  if (m == "PUT" && !roots.empty() && !named_mount) {
    c.op = "CreateBucket";
    Status st = roots.front().root->CreateBucket(c.bucket);
    if (st.Is(StatusCode::kAlreadyExists)) {
      return SendError(c, net::S3Error::Of(409, "BucketAlreadyOwnedByYou", st.message()));
    }
    if (!st.ok()) return SendStatusError(c, st, true);
    c.status = 200;
    c.out.SetHeader("Location", "/" + c.bucket);
    (void)c.out.Send(200, kXml, "");
    return;
  }
  if (m == "DELETE" && exists && !roots.empty() && !named_mount) {
    c.op = "DeleteBucket";
    auto root = mounts_->RootOf(c.bucket);  // not necessarily the first root
    Status st = root.ok() ? root->root->DeleteBucket(c.bucket) : root.status();
    if (st.Is(StatusCode::kFailedPrecondition)) {
      return SendError(c, net::S3Error::Of(409, "BucketNotEmpty", st.message()));
    }
    if (!st.ok()) return SendStatusError(c, st, true);
    mounts_->ForgetBucket(c.bucket);
    InvalidateListings(c.bucket);
    c.status = 204;
    c.out.SetStatus(204);
    (void)c.out.Finish();
    return;
  }
  if (m == "PUT") {
    c.op = "CreateBucket";
    if (exists) {
      c.status = 200;
      c.out.SetHeader("Location", "/" + c.bucket);
      (void)c.out.Send(200, kXml, "");
      return;
    }
    return SendError(c, net::S3Error::Of(501, "NotImplemented",
                                         "buckets are mounts: add a mount to create one"));
  }
  if (!exists) {
    return SendError(c, net::S3Error::Of(404, "NoSuchBucket",
                                         fmt::format("no mount named '{}'", c.bucket)));
  }
  if (m == "HEAD") {
    c.status = 200;
    c.out.SetHeader("x-amz-bucket-region", "us-east-1");
    c.out.SetHeader("Content-Length", "0");
    c.out.SetStatus(200);
    (void)c.out.Finish();
    return;
  }
  if (m == "GET") {
    if (c.Has("location")) {
      c.op = "GetBucketLocation";
      c.status = 200;
      (void)c.out.Send(200, kXml,
                       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint "
                       "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></LocationConstraint>");
      return;
    }
    if (c.Has("versioning")) {
      c.op = "GetBucketVersioning";
      c.status = 200;
      (void)c.out.Send(200, kXml,
                       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VersioningConfiguration "
                       "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>");
      return;
    }
    if (c.Has("uploads")) return ListUploads(c);
    return ListObjects(c, c.Get("list-type") == "2");
  }
  if (m == "POST" && c.Has("delete")) return DeleteObjects(c);
  if (m == "DELETE") {
    c.op = "DeleteBucket";
    return SendError(c, net::S3Error::Of(501, "NotImplemented",
                                         "buckets are mounts: remove the mount to delete one"));
  }
  SendError(c, net::S3Error::Of(405, "MethodNotAllowed", m));
}

void S3Service::ListUploads(Call& c) {
  c.op = "ListMultipartUploads";
  int max_uploads = 1000;
  if (!ParseCount(c, "max-uploads", 1000, &max_uploads)) return;
  const std::string prefix = c.Get("prefix");
  const std::string key_marker = c.Get("key-marker"), id_marker = c.Get("upload-id-marker");
  const std::string root = "/" + c.bucket + "/";
  std::vector<net::UploadEntry> entries;
  bool truncated = false;
  for (auto& u : uploads_->ListUploads(root + prefix)) {
    std::string key = u.path.substr(root.size());
    // After the markers: keys past key-marker, or at it with an id past upload-id-marker.
    if (!key_marker.empty() &&
        (key < key_marker || (key == key_marker && (id_marker.empty() || u.upload_id <= id_marker)))) {
      continue;
    }
    if (static_cast<int>(entries.size()) == max_uploads) {
      truncated = max_uploads > 0;  // an empty page never says "more": a client would loop
      break;
    }
    entries.push_back({std::move(key), std::move(u.upload_id), u.created_ns});
  }
  c.status = 200;
  (void)c.out.Send(200, kXml, net::RenderListMultipartUploads(c.bucket, prefix, entries,
                                                              max_uploads, truncated));
}

bool S3Service::ParseCount(Call& c, std::string_view name, int max, int* out) {
  if (!c.Has(name)) return true;
  const std::string text = c.Get(name);
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc::result_out_of_range && !text.empty() && text[0] != '-') {
    n = max;  // a huge count asks for everything: the most we give
  } else if (ec != std::errc() || end != text.data() + text.size() || n < 0) {
    SendError(c, net::S3Error::Of(400, "InvalidArgument",
                                  fmt::format("{} must be a non-negative integer", name)));
    return false;
  }
  *out = static_cast<int>(std::min<int64_t>(n, max));
  return true;
}

void S3Service::ListObjects(Call& c, bool v2) {
  c.op = v2 ? "ListObjectsV2" : "ListObjects";
  auto r = mounts_->Resolve("/" + c.bucket);
  if (!r.ok()) return SendStatusError(c, r.status(), true);
  ufs::ListOptions o;
  o.prefix = c.Get("prefix");
  o.delimiter = c.Get("delimiter");
  int max_keys = 1000;
  if (!ParseCount(c, "max-keys", 1000, &max_keys)) return;
  net::ListObjectsResult res;
  res.v2 = v2;
  res.bucket = c.bucket;
  res.prefix = o.prefix;
  res.delimiter = o.delimiter;
  res.max_keys = max_keys;
  if (c.Has("encoding-type") && c.Get("encoding-type") != "url") {
    return SendError(c, net::S3Error::Of(400, "InvalidArgument", "Invalid Encoding Method specified in Request"));
  }
  res.url_encode = c.Has("encoding-type");
  if (v2) {
    res.continuation_token = c.Get("continuation-token");
    res.start_after = c.Get("start-after");
    o.continuation_token = res.continuation_token;
    o.start_after = res.start_after;
  } else {
    res.marker = c.Get("marker");
    o.start_after = res.marker;
  }
  if (max_keys > 0) {
    o.max_keys = max_keys;
    auto page = listings_->List(*r, o);
    if (!page.ok()) return SendStatusError(c, page.status(), true);
    for (const auto& obj : page->objects) {
      if (obj.is_dir) continue;
      res.objects.push_back({obj.key, obj.size, obj.mtime_ns, S3ETag(obj)});
    }
    res.common_prefixes = page->common_prefixes;
    res.truncated = page->truncated;
    if (page->truncated) {
      res.next_continuation_token = page->next_token;
      std::string last = res.objects.empty() ? "" : res.objects.back().key;
      if (!res.common_prefixes.empty() && res.common_prefixes.back() > last) {
        last = res.common_prefixes.back();
      }
      res.next_marker = last;
    }
  }
  c.status = 200;
  (void)c.out.Send(200, kXml, net::RenderListObjects(res));
}

}  // namespace sluice::worker
