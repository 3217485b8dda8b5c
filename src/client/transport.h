// Transport: the client's view of the cluster and its failover loop. Internal to
// src/client.
//
// The view (members, ring settings, mounts) comes from GET /v1/cluster of any worker
// that answers (or the members from etcd), refreshed at most every refresh_interval by
// whichever caller finds it stale. Call() sends one /v1 request to the owners of a
// (path, block) in ring order, skipping workers marked down, and moves on after a
// connection failure, a timeout or a 503; any other answer (2xx or an application error)
// is returned as it is.
//
// Thread-safety: thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "placement/membership.h"
#include "placement/placement.h"
#include "sluice/client.h"
#include "ufs/curl_client.h"
#include "ufs/mount_table.h"

namespace sluice::client {

struct MountInfo {
  std::string name;
  std::string uri;
};

struct View {
  std::shared_ptr<const placement::Placement> placement;
  std::vector<MountInfo> mounts;
  std::chrono::milliseconds metadata_ttl{30000};  // the workers' (for kernel caches)
};

struct V1Request {
  std::string method = "GET";
  std::string op;                  // "stat", "read", ... (the path after /v1/)
  std::string path;                // namespace path (placement key and ?path=)
  uint64_t block = 0;              // placement block
  std::string query;               // extra query, "&offset=0&length=10"
  std::string_view body;           // PUT body
  uint64_t expected_body_size = 0;
  std::span<char> sink;            // a read's bytes go straight here (ufs::HttpRequest::sink)
};

class Transport {
 public:
  static Result<std::unique_ptr<Transport>> Create(const ClientOptions& options);
  ~Transport();

  // The current view (refreshed when stale; the old one is kept if refreshing fails).
  std::shared_ptr<const View> CurrentView();
  // Sends `req` to its owners in turn; kUnavailable naming the workers tried when none
  // answered. A 2xx or an application error is returned as the response.
  Result<ufs::HttpResponse> Call(const V1Request& req);
  // Sends `req` to one worker (no failover); with `ring`, as X-Sluice-Ring (the worker
  // answers 409 RingMismatch when its ring settings differ).
  Result<ufs::HttpResponse> CallOne(const std::string& endpoint, const V1Request& req,
                                    const std::string& ring = "");
  std::string Url(const std::string& endpoint, const V1Request& req) const;
  std::vector<std::string> Headers() const;

  // The under store of a namespace path, for reads when no worker answers.
  Result<ufs::Resolved> Direct(const std::string& path);

  bool IsDown(const std::string& endpoint);
  void MarkDown(const std::string& endpoint);
  const ClientOptions& options() const { return options_; }
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> failovers{0};
  std::atomic<uint64_t> ufs_fallbacks{0};

 private:
  explicit Transport(const ClientOptions& options);
  Status Refresh();
  Result<ufs::HttpResponse> CallWith(const View& view, const V1Request& req);
  Result<std::shared_ptr<View>> FetchView(const std::string& endpoint);

  const ClientOptions options_;
  ufs::CurlClient http_;
  // /v1/cluster: a short timeout (a hung member must not hold a refresh for a whole
  // request_timeout; the next candidate is asked instead).
  ufs::CurlClient view_http_;
  std::vector<placement::Member> seeds_;
  std::unique_ptr<placement::EtcdMembership> etcd_;

  std::mutex refresh_mu_;  // one refresher at a time
  std::mutex mu_;
  std::shared_ptr<const View> view_;                          // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point refreshed_;          // GUARDED_BY(mu_)
  std::map<std::string, std::chrono::steady_clock::time_point> down_;  // GUARDED_BY(mu_)
  // Members whose /v1/cluster failed lately -> when: asked last by the next refreshes, but
  // not marked down for requests (a busy member may be slow to answer it). GUARDED_BY(mu_)
  std::map<std::string, std::chrono::steady_clock::time_point> view_failed_;
  std::shared_ptr<ufs::MountTable> direct_;                  // GUARDED_BY(mu_)
};

// The Status a /v1 error answer stands for (its JSON code and message).
Status ErrorOf(const ufs::HttpResponse& r, std::string_view context);

// Whether a worker's answer says it is up but cannot serve this now (502, 503, 504: its
// under store is slow, throttling or away): the next owner may. It is not marked down.
inline bool WorkerBusy(long status) {  // NOLINT(runtime/int): curl's type
  return status == 502 || status == 503 || status == 504;
}

}  // namespace sluice::client
