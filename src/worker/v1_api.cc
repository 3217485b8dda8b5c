#include "worker/v1_api.h"

#include <fmt/format.h>

#include "net/s3_http.h"
#include "worker/object_stream.h"
#include "worker/s3_service.h"

namespace sluice::worker {
namespace {

using nlohmann::json;

// Reads are streamed in pieces of this size: a cold piece's missing pages are fetched with
// one ranged under-store read.
constexpr uint64_t kReadChunk = 4 * kMiB;

struct Query {
  std::vector<std::pair<std::string, std::string>> kv;
  std::string Get(std::string_view name, std::string def = "") const {
    for (const auto& [k, v] : kv) {
      if (k == name) return v;
    }
    return def;
  }
};

// Constant-time comparison: the token's bytes do not leak through timing.
bool TokenMatches(std::string_view got, const std::string& want) {
  if (got.size() != want.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    diff |= static_cast<unsigned char>(got[i] ^ want[i]);
  }
  return diff == 0;
}

Result<uint64_t> ParseU64(const std::string& s, const char* name) {
  try {
    size_t used = 0;
    uint64_t v = std::stoull(s, &used);
    if (used != s.size() || s[0] == '-') throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    return Status::InvalidArgument(fmt::format("'{}' must be a non-negative integer", name));
  }
}

}  // namespace

void SendJson(net::ResponseWriter& out, int status, const json& j) {
  // Invalid UTF-8 in a key must not turn an answer into a 500.
  (void)out.Send(status, "application/json",
                 j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void SendErr(net::ResponseWriter& out, const Status& s) {
  SendJson(out, HttpStatusOf(s),
           json{{"error", {{"code", StatusCodeName(s.code()), }, {"message", s.message()}}}});
}

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kFailedPrecondition: return 412;
    case StatusCode::kResourceExhausted: return 507;
    case StatusCode::kOutOfRange: return 416;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

json InfoJson(const std::string& path, const ufs::ObjectInfo& info) {
  return json{{"path", path},          {"size", info.size},         {"mtime_ns", info.mtime_ns},
              {"etag", S3ETag(info)},  {"version", info.Version()}, {"is_dir", info.is_dir}};
}

V1Api::V1Api(std::string token, std::shared_ptr<ufs::MountTable> mounts,
             std::shared_ptr<ReadThroughCache> cache, std::shared_ptr<WriteThrough> writes,
             std::shared_ptr<ListingCache> listings, StatusFn status, StatusFn cluster)
    : token_(std::move(token)),
      mounts_(std::move(mounts)),
      cache_(std::move(cache)),
      writes_(std::move(writes)),
      listings_(std::move(listings)),
      status_(std::move(status)),
      cluster_(std::move(cluster)) {}

bool V1Api::TryInline(const net::HttpRequest& req, net::ResponseWriter& out) {
  if (req.method != "GET" || req.path != "/v1/stat") return false;
  if (!token_.empty() && !TokenMatches(req.Header("Authorization"), "Bearer " + token_)) {
    return false;  // the handler answers the error
  }
  Query q{net::ParseQuery(req.query)};
  const std::string path = q.Get("path");
  if (path.empty()) return false;
  auto cached = cache_->CachedStat(path);
  if (!cached) return false;
  SendJson(out, 200, InfoJson(path, cached->info));
  return true;
}

void V1Api::Handle(const net::HttpRequest& req, net::BodyReader& body, net::ResponseWriter& out) {
  if (!token_.empty() && !TokenMatches(req.Header("Authorization"), "Bearer " + token_)) {
    return SendErr(out, Status::PermissionDenied("missing or wrong cluster token"));
  }
  Query q{net::ParseQuery(req.query)};
  // A parameter given twice could be read one way where the request is routed and
  // another where it is served (PUT ?path=A&path=B): refused.
  for (size_t i = 0; i < q.kv.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (q.kv[i].first == q.kv[j].first) {
        return SendErr(out, Status::InvalidArgument(
                                fmt::format("query parameter '{}' given twice", q.kv[i].first)));
      }
    }
  }
  const std::string op = req.path.substr(std::min<size_t>(req.path.size(), 4));  // after "/v1/"
  const std::string path = q.Get("path", "/");
  const std::string& m = req.method;

  if (op == "status" && m == "GET") return SendJson(out, 200, status_());
  if (op == "cluster" && m == "GET") return SendJson(out, 200, cluster_());
  if (op == "stat" && m == "GET") {
    auto info = cache_->Stat(path);
    if (!info.ok()) return SendErr(out, info.status());
    return SendJson(out, 200, InfoJson(path, *info));
  }
  if (op == "list" && m == "GET") {
    auto r = mounts_->Resolve(path);
    if (!r.ok()) return SendErr(out, r.status());
    json page{{"objects", json::array()}, {"prefixes", json::array()}, {"next_token", ""}};
    if (!r->store) {  // the root lists the mounts
      for (const auto& mount : mounts_->List()) page["prefixes"].push_back("/" + mount.name + "/");
      return SendJson(out, 200, page);
    }
    ufs::ListOptions o;
    o.prefix = ufs::DirPrefix(r->key);
    o.delimiter = q.Get("delimiter", "/");
    o.continuation_token = q.Get("token");
    o.start_after = q.Get("start_after");
    auto max = ParseU64(q.Get("max", "1000"), "max");
    if (!max.ok()) return SendErr(out, max.status());
    o.max_keys = static_cast<int>(std::clamp<uint64_t>(*max, 1, 1000));
    const std::string job = q.Get("job");
    auto res = listings_->List(*r, o, job);
    if (!res.ok()) return SendErr(out, res.status());
    for (const auto& obj : res->objects) {
      // Directory entries (is_dir, from stores that list them) are no files; a member
      // reading a load job's page still gets them, so it walks exactly what the lister did.
      if (!obj.is_dir || !job.empty()) {
        page["objects"].push_back(InfoJson("/" + r->mount + "/" + obj.key, obj));
      }
    }
    for (const auto& p : res->common_prefixes) page["prefixes"].push_back("/" + r->mount + "/" + p);
    page["next_token"] = res->next_token;
    return SendJson(out, 200, page);
  }
  if (op == "read" && m == "GET") {
    // A cold object is opened with one under-store request that returns its stat and the
    // first bytes asked for (not a stat, then a read).
    const uint64_t hint = std::strtoull(q.Get("offset", "0").c_str(), nullptr, 10);
    const uint64_t want_len = std::strtoull(q.Get("length", "0").c_str(), nullptr, 10);
    auto info = cache_->StatForRead(path, hint, std::clamp<uint64_t>(want_len, 1, kReadChunk));
    if (!info.ok() && info.status().Is(StatusCode::kInvalidArgument)) info = cache_->Stat(path);
    if (std::string want = q.Get("version");
        !want.empty() &&
        (info.ok() ? info->Version() != want : info.status().Is(StatusCode::kNotFound))) {
      // The caller saw another version (written through another member): our cached stat
      // (or miss) may be stale. Stat anew; X-Sluice-Version names the version served.
      cache_->InvalidateStat(path);
      info = cache_->Stat(path);
    }
    if (!info.ok()) return SendErr(out, info.status());
    if (info->is_dir) return SendErr(out, Status::InvalidArgument(path + " is a directory"));
    uint64_t offset = 0, length = info->size;
    if (auto range = req.Header("Range"); !range.empty()) {
      auto rr = net::ParseRange(range, info->size);
      if (!rr.ok()) return SendErr(out, rr.status());
      if (rr->has_value()) {
        offset = (*rr)->first;
        length = (*rr)->length();
      }
    } else {
      auto o = ParseU64(q.Get("offset", "0"), "offset");
      if (!o.ok()) return SendErr(out, o.status());
      offset = std::min(*o, info->size);
      auto l = ParseU64(q.Get("length", std::to_string(info->size)), "length");
      if (!l.ok()) return SendErr(out, l.status());
      length = std::min(*l, info->size - offset);
    }
    out.SetStatus(200);
    out.SetHeader("Content-Type", "application/octet-stream");
    out.SetHeader("Content-Length", std::to_string(length));
    out.SetHeader("X-Sluice-Version", info->Version());
    out.SetHeader("X-Sluice-Size", std::to_string(info->size));
    Status s = StreamObjectRange(*cache_, path, info->Version(), offset, length, kReadChunk, out);
    if (s.ok()) {
      (void)out.Finish();
    } else if (!out.HeadersSent()) {
      SendErr(out, s);
    }  // else mid-body: the connection is closed, the client sees a short body
    return;
  }
  if (op == "write" && m == "PUT") {
    auto up = writes_->Begin(path, req.content_length.value_or(0));
    if (!up.ok()) return SendErr(out, up.status());
    if (Status s = AppendBody(body, **up); !s.ok()) return SendErr(out, s);  // ~Upload aborts
    auto info = (*up)->Commit();
    if (auto r = mounts_->Resolve(path); r.ok()) listings_->Invalidate(r->mount);
    if (!info.ok()) return SendErr(out, info.status());
    return SendJson(out, 200, InfoJson(path, *info));
  }
  if (op == "object" && m == "DELETE") {
    Status s = writes_->Delete(path);
    if (auto r = mounts_->Resolve(path); r.ok()) listings_->Invalidate(r->mount);
    if (!s.ok()) return SendErr(out, s);
    out.SetStatus(204);
    (void)out.Finish();
    return;
  }
  if (op == "invalidate" && m == "POST") {  // another member changed `path`
    cache_->InvalidateStat(path);
    if (auto r = mounts_->Resolve(path); r.ok() && r->store) listings_->Invalidate(r->mount);
    return SendJson(out, 200, json::object());
  }
  if (op == "free" && m == "POST") {
    auto r = mounts_->Resolve(path);
    if (!r.ok()) return SendErr(out, r.status());
    uint64_t objects = 0, freed = 0;
    // What the cache knew of `path` goes first (Forget drops the last version known, a
    // stat of which may have expired); then the store's current version.
    if (r->store && !r->key.empty()) freed += cache_->Invalidate(path);
    auto info = cache_->Stat(path);
    if (info.ok() && !info->is_dir) {
      freed += cache_->Forget(path, *info);
      objects = 1;
    } else if (info.status().Is(StatusCode::kNotFound) && freed > 0) {
      objects = 1;  // deleted from the store, still cached: freed above
    } else if (r->store) {
      // A directory: every object below it, listed page by page.
      ufs::ListOptions o;
      o.prefix = ufs::DirPrefix(r->key);
      for (;;) {
        auto page = r->store->List(o);
        if (!page.ok()) return SendErr(out, page.status());
        for (const auto& obj : page->objects) {
          freed += cache_->Forget("/" + r->mount + "/" + obj.key, obj);
          objects++;
        }
        if (!page->truncated) break;
        o.continuation_token = page->next_token;
      }
      // What is still cached below it was deleted from the store (or is a stale miss).
      freed += cache_->ForgetBelow(path);
    }
    if (r->store) listings_->Invalidate(r->mount);
    return SendJson(out, 200, json{{"freed_pages", freed}, {"objects", objects}});
  }
  if (HandleDataset(op, req, body, out)) return;
  SendErr(out, Status::NotFound(fmt::format("no such API: {} {}", m, req.path)));
}

}  // namespace sluice::worker
