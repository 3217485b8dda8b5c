#include "ufs/s3_store.h"

#include <fmt/format.h>

#include <algorithm>

#include "ufs/factory.h"
#include "ufs/s3_xml.h"

namespace sluice::ufs {
namespace {

// "&name=value" with the value encoded; parameters must be added in sorted order so the
// query string is already canonical for SigV4.
void AddParam(std::string* query, std::string_view name, std::string_view value) {
  *query += query->empty() ? '?' : '&';
  *query += name;
  *query += '=';
  *query += UriEncode(value, /*keep_slash=*/false);
}

}  // namespace

CurlClientOptions S3ClientOptions(const S3Config& config, const S3Options& options) {
  CurlClientOptions o;
  o.max_retries = options.max_retries;
  o.retry_base_delay = options.retry_base_delay;
  o.connect_timeout = options.connect_timeout;
  o.request_timeout = options.request_timeout;
  o.max_pooled_handles = options.max_connections;
  o.ca_bundle = config.ca_bundle;
  // S3's 400 RequestTimeout: it gave up on a slow request body; asking again may work.
  o.also_retry = [](const HttpResponse& r) {
    return r.status == 400 && r.body.find("<Code>RequestTimeout</Code>") != std::string::npos;
  };
  // Credentials that expire: each attempt is signed with the current ones.
  if (config.credentials != nullptr) {
    o.prepare = [provider = config.credentials,
                 scope = "aws:amz:" + config.region + ":s3"](HttpRequest* r) -> Status {
      SLUICE_ASSIGN_OR_RETURN(AwsCredentials c, provider->Get());
      if (c.access_key.empty()) return Status::OK();  // none to be had: unsigned
      r->aws_sigv4 = scope;
      r->userpwd = c.access_key + ":" + c.secret_key;
      if (!c.session_token.empty()) r->headers.push_back("x-amz-security-token: " + c.session_token);
      return Status::OK();
    };
  }
  return o;
}

HttpRequest NewS3Request(const S3Config& config, std::string method, std::string url) {
  HttpRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.headers.push_back("x-amz-content-sha256: UNSIGNED-PAYLOAD");
  if (!config.access_key.empty()) {
    r.aws_sigv4 = "aws:amz:" + config.region + ":s3";
    r.userpwd = config.access_key + ":" + config.secret_key;
    if (!config.session_token.empty()) {
      r.headers.push_back("x-amz-security-token: " + config.session_token);
    }
  }
  return r;
}

S3Store::S3Store(S3Config config, const S3Options& options)
    : config_(std::move(config)), options_(options), client_(S3ClientOptions(config_, options)) {}

Result<std::string> S3Store::FullKey(std::string_view key, bool allow_root) const {
  SLUICE_ASSIGN_OR_RETURN(std::string norm, NormalizeKey(key));
  if (norm.empty() && !allow_root) {
    return Status::InvalidArgument(fmt::format("{}: empty object key", config_.uri));
  }
  return config_.prefix + norm;
}

HttpRequest S3Store::NewRequest(std::string method, std::string url) const {
  return NewS3Request(config_, std::move(method), std::move(url));
}

Status S3Store::ErrorOf(const HttpResponse& response, std::string_view method,
                        std::string_view key) const {
  S3Error err = ParseS3Error(response.body);
  std::string detail = err.code.empty() ? "" : err.code;
  if (!err.message.empty()) detail += ": " + err.message;
  std::string context = fmt::format("{} {} '{}'", method, config_.uri, key);
  if (err.code == "RequestTimeout") {  // a 400 that is the store's or the network's slowness
    return Status::Unavailable(fmt::format("{}: HTTP {}: {}", context, response.status, detail));
  }
  return HttpError(response.status, context, detail);
}

Status S3Store::Failed(Status status) {
  if (!status.Is(StatusCode::kNotFound)) counters_.errors.fetch_add(1, std::memory_order_relaxed);
  return status;
}

Result<ObjectInfo> S3Store::Stat(std::string_view key) {
  counters_.stats.fetch_add(1, std::memory_order_relaxed);
  Result<std::string> full = FullKey(key, /*allow_root=*/true);
  if (!full.ok()) return Failed(full.status());
  std::string rel = full->substr(config_.prefix.size());
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  ObjectInfo info;
  info.key = rel;
  if (rel.empty()) {  // the root is a directory
    info.is_dir = true;
    return info;
  }
  Result<HttpResponse> r = client_.Perform(NewRequest("HEAD", config_.ObjectUrl(*full)));
  if (!r.ok()) return Failed(r.status().WithContext(fmt::format("HEAD '{}'", key)));
  if (r->status == 200) {
    FillInfoFromHeaders(*r, &info);
    return info;
  }
  if (r->status != 404) return Failed(ErrorOf(*r, "HEAD", key));
  // Not an object: a directory if anything lies below it.
  ListOptions probe;
  probe.max_keys = 1;
  Result<ListPage> children = ListRaw(config_.prefix + rel + "/", probe);
  if (!children.ok()) return Failed(children.status());
  if (children->objects.empty() && children->common_prefixes.empty()) {
    return Status::NotFound(fmt::format("HEAD {} '{}': no such key", config_.uri, key));
  }
  info.is_dir = true;
  return info;
}

Result<ListPage> S3Store::ListRaw(const std::string& prefix, const ListOptions& options) {
  if (options.max_keys <= 0) return Status::InvalidArgument("List: max_keys must be positive");
  std::string query;  // parameters in sorted order
  if (!options.continuation_token.empty()) {
    AddParam(&query, "continuation-token", options.continuation_token);
  }
  if (!options.delimiter.empty()) AddParam(&query, "delimiter", options.delimiter);
  AddParam(&query, "list-type", "2");
  AddParam(&query, "max-keys", std::to_string(std::min(options.max_keys, 1000)));
  AddParam(&query, "prefix", prefix);
  if (!options.start_after.empty()) {
    AddParam(&query, "start-after", config_.prefix + options.start_after);
  }
  HttpRequest req = NewRequest("GET", config_.BucketUrl() + query);
  Result<HttpResponse> r = client_.Perform(req);
  if (!r.ok()) return r.status().WithContext(fmt::format("LIST '{}'", prefix));
  if (r->status != 200) return ErrorOf(*r, "LIST", prefix);
  return ParseListObjectsV2(r->body, config_.prefix);
}

Result<ListPage> S3Store::List(const ListOptions& options) {
  counters_.lists.fetch_add(1, std::memory_order_relaxed);
  std::string prefix = options.prefix;
  if (!prefix.empty()) {
    Result<std::string> norm = NormalizeKey(prefix);
    if (!norm.ok()) return Failed(norm.status());
    prefix = *norm;
  }
  Result<ListPage> page = ListRaw(config_.prefix + prefix, options);
  if (!page.ok()) return Failed(page.status());
  return page;
}

Result<std::string> S3Store::Read(std::string_view key, uint64_t offset, uint64_t length,
                                  std::string_view expected_version) {
  return ReadImpl(key, offset, length, expected_version, nullptr);
}

Result<ReadResult> S3Store::ReadWithInfo(std::string_view key, uint64_t offset, uint64_t length) {
  if (length == 0) return UnderStore::ReadWithInfo(key, offset, length);
  ReadResult out;
  Result<std::string> data = ReadImpl(key, offset, length, {}, &out.info);
  if (!data.ok()) return data.status();
  // Nothing came back (offset at or past the end): the headers may not carry the size.
  if (data->empty()) return UnderStore::ReadWithInfo(key, offset, length);
  out.data = std::move(data).value();
  return out;
}

Result<std::string> S3Store::ReadImpl(std::string_view key, uint64_t offset, uint64_t length,
                                      std::string_view expected_version, ObjectInfo* info) {
  counters_.reads.fetch_add(1, std::memory_order_relaxed);
  Result<std::string> full = FullKey(key);
  if (!full.ok()) return Failed(full.status());
  if (length == 0) {  // nothing to fetch; still report a missing or changed object
    Result<ObjectInfo> info = Stat(key);
    if (!info.ok()) return info.status();
    if (!expected_version.empty() && info->Version() != expected_version) {
      return Failed(Status::FailedPrecondition(fmt::format("GET {} '{}': version {} != expected {}",
                                                           config_.uri, key, info->Version(),
                                                           expected_version)));
    }
    return std::string();
  }
  HttpRequest req = NewRequest("GET", config_.ObjectUrl(*full));
  SetRange(&req, offset, length);
  if (!expected_version.empty())
    req.headers.push_back(fmt::format("If-Match: \"{}\"", expected_version));
  Result<HttpResponse> r = client_.Perform(req);
  if (!r.ok()) return Failed(r.status().WithContext(fmt::format("GET '{}'", key)));
  if (r->status == 412) {
    return Failed(Status::FailedPrecondition(
        fmt::format("GET {} '{}': object changed (If-Match \"{}\" failed)", config_.uri, key,
                    expected_version)));
  }
  if (r->status != 200 && r->status != 206 && r->status != 416) {
    return Failed(ErrorOf(*r, "GET", key));
  }
  std::string etag = Unquote(r->Header("etag"));
  if (!expected_version.empty() && !etag.empty() && etag != expected_version) {
    return Failed(Status::FailedPrecondition(fmt::format(
        "GET {} '{}': version {} != expected {}", config_.uri, key, etag, expected_version)));
  }
  if (info != nullptr) {
    info->key = std::string(key);
    FillInfoFromHeaders(*r, info);  // size from Content-Range's total (206/416) or the body
  }
  if (r->status == 416) return std::string();  // offset at or past the end
  std::string data = TrimToRange(std::move(r->body), r->status, offset, length);
  counters_.bytes_read.fetch_add(data.size(), std::memory_order_relaxed);
  return data;
}

Status S3Store::Delete(std::string_view key) {
  counters_.deletes.fetch_add(1, std::memory_order_relaxed);
  Result<std::string> full = FullKey(key);
  if (!full.ok()) return Failed(full.status());
  Result<HttpResponse> r = client_.Perform(NewRequest("DELETE", config_.ObjectUrl(*full)));
  if (!r.ok()) return Failed(r.status().WithContext(fmt::format("DELETE '{}'", key)));
  if (r->status / 100 != 2 && r->status != 404) return Failed(ErrorOf(*r, "DELETE", key));
  return Status::OK();
}

UnderStoreStats S3Store::GetStats() const {
  UnderStoreStats s;
  s.stats = counters_.stats.load(std::memory_order_relaxed);
  s.lists = counters_.lists.load(std::memory_order_relaxed);
  s.reads = counters_.reads.load(std::memory_order_relaxed);
  s.writes = counters_.writes.load(std::memory_order_relaxed);
  s.deletes = counters_.deletes.load(std::memory_order_relaxed);
  s.bytes_read = counters_.bytes_read.load(std::memory_order_relaxed);
  s.bytes_written = counters_.bytes_written.load(std::memory_order_relaxed);
  s.errors = counters_.errors.load(std::memory_order_relaxed);
  s.retries = client_.Retries();
  return s;
}

Result<std::unique_ptr<UnderStore>> OpenS3Store(std::string_view uri, const S3Options& options) {
  SLUICE_ASSIGN_OR_RETURN(S3Config config, ResolveS3Config(uri, options));
  return std::unique_ptr<UnderStore>(new S3Store(std::move(config), options));
}

}  // namespace sluice::ufs
