// The internal /v1 API (docs/api.md): JSON for control, raw bytes for data. This is what
// the client library, the CLI and other workers speak.
//
//   GET    /v1/stat?path=P                      -> JSON object info
//   GET    /v1/list?path=P[&delimiter=/][&token=T][&max=N] -> JSON page
//   GET    /v1/read?path=P[&offset=O][&length=L] (or a Range header) -> bytes
//   PUT    /v1/write?path=P   body = bytes      -> JSON object info (write-through)
//   DELETE /v1/object?path=P                    -> 204
//   POST   /v1/free?path=P                      -> JSON {"freed_pages": N, "objects": M}
//   GET    /v1/status                           -> JSON cache status
//   GET    /v1/cluster                          -> JSON members, ring settings, mounts
//   POST   /v1/invalidate?path=P                -> {} (drops the cached stat and listings)
//   POST   /v1/load   body = LoadSpec JSON      -> JSON job (worker/load_jobs.h)
//   GET    /v1/load?id=ID                       -> JSON job; without id {"jobs": [...]}
//   POST   /v1/load/stop?id=ID                  -> JSON job
//   POST   /v1/pin?path=P, /v1/unpin?path=P     -> {"pages": N, "pins": [...]}
//   POST   /v1/prefetch  body = {"paths": [...]} -> {"queued": N, "dropped": M}
//   GET    /v1/rules                            -> JSON pins, TTL rules, quotas
// Errors: {"error": {"code": "NotFound", "message": "..."}} with a matching HTTP status.
// When a cluster token is configured every call needs `Authorization: Bearer <token>`.
//
// Thread-safety: Handle is called concurrently.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "net/http.h"
#include "worker/cache_rules.h"
#include "worker/listing_cache.h"
#include "worker/load_jobs.h"
#include "worker/read_through.h"
#include "worker/write_through.h"

namespace sluice::worker {

class V1Api {
 public:
  using StatusFn = std::function<nlohmann::json()>;
  V1Api(std::string token, std::shared_ptr<ufs::MountTable> mounts,
        std::shared_ptr<ReadThroughCache> cache, std::shared_ptr<WriteThrough> writes,
        std::shared_ptr<ListingCache> listings, StatusFn status, StatusFn cluster);

  void Handle(const net::HttpRequest& req, net::BodyReader& body, net::ResponseWriter& out);
  // The I/O-thread fast path (net::InlineHandler) for GET /v1/stat of an object whose stat
  // is cached: answered without a thread hand-off. False (nothing written) otherwise.
  bool TryInline(const net::HttpRequest& req, net::ResponseWriter& out);
  // Serves /v1/load, /v1/pin, /v1/unpin and /v1/rules (set before serving).
  void SetDatasetOps(std::shared_ptr<LoadJobs> jobs, std::shared_ptr<CacheRules> rules) {
    jobs_ = std::move(jobs);
    rules_ = std::move(rules);
  }

 private:
  // The dataset operations (v1_dataset.cc); false when `op` is not one of them.
  bool HandleDataset(const std::string& op, const net::HttpRequest& req, net::BodyReader& body,
                     net::ResponseWriter& out);
  std::shared_ptr<LoadJobs> jobs_;
  std::shared_ptr<CacheRules> rules_;
  std::string token_;
  std::shared_ptr<ufs::MountTable> mounts_;
  std::shared_ptr<ReadThroughCache> cache_;
  std::shared_ptr<WriteThrough> writes_;
  std::shared_ptr<ListingCache> listings_;
  StatusFn status_;
  StatusFn cluster_;
};

// HTTP status for a Status code (shared by the /v1 API and the CLI's error reports).
int HttpStatusOf(const Status& s);
// A JSON answer; an error as {"error": {"code", "message"}} with its HTTP status.
void SendJson(net::ResponseWriter& out, int status, const nlohmann::json& j);
void SendErr(net::ResponseWriter& out, const Status& s);
nlohmann::json InfoJson(const std::string& path, const ufs::ObjectInfo& info);

}  // namespace sluice::worker
