// Worker: one Sluice cache worker process. Composes the cache engine (mounts, page
// store, read-through engine), write-through, the S3 API, the /v1 API, /metrics,
// /healthz and /readyz behind one HTTP server.
//
// Routes: /healthz (always 200 while the process serves), /readyz (200 once started, 503
// while stopping), /metrics (Prometheus text), /v1/... (net/v1_api.h), everything else the
// S3 API (path-style).
//
// Thread-safety: Start/Stop from one thread; requests are served concurrently.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "net/http_server.h"
#include "worker/cache_rules.h"
#include "worker/cluster.h"
#include "worker/config.h"
#include "worker/load_jobs.h"
#include "worker/multipart.h"
#include "worker/peers.h"
#include "worker/s3_service.h"
#include "worker/v1_api.h"
#include "worker/write_through.h"

namespace sluice::worker {

class Worker {
 public:
  // Validates the config (including the loopback-or-credentials rule) and opens the
  // mounts and the page store (recovering a disk cache). Does not listen yet.
  static Result<std::unique_ptr<Worker>> Create(WorkerConfig config);
  ~Worker();

  Status Start();
  // Stops accepting, finishes in-flight requests (up to `grace`), stops the server.
  void Stop(Duration grace = std::chrono::seconds(10));
  uint16_t port() const { return server_->port(); }
  std::string endpoint() const;  // http://host:port

  const Engine& engine() const { return engine_; }
  Cluster& cluster() { return *cluster_; }
  metrics::Registry* registry() { return &registry_; }
  nlohmann::json StatusJson() const;

 private:
  explicit Worker(WorkerConfig config) : config_(std::move(config)) {}
  // /healthz and /readyz (answered on the I/O thread: no wait for a handler thread).
  void Probe(std::string_view path, net::ResponseWriter& out);
  void Route(const net::HttpRequest& req, net::BodyReader& body, net::ResponseWriter& out);
  // Passes a request for a path another member owns to that owner (worker/forward.h).
  // False: serve it here (we own it, it was forwarded already, or the owner is down).
  bool MaybeForward(const net::HttpRequest& req, net::BodyReader& body, net::ResponseWriter& out);
  nlohmann::json ClusterJson();
  void RegisterCollectors();

  WorkerConfig config_;
  Engine engine_;
  metrics::Registry registry_;
  std::shared_ptr<WriteThrough> writes_;
  std::shared_ptr<MultipartUploads> uploads_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Peers> blocks_;  // null for a cluster of one
  metrics::Counter* forwarded_ = nullptr;
  metrics::Counter* forward_fallbacks_ = nullptr;
  std::shared_ptr<CacheRules> rules_;
  std::shared_ptr<LoadJobs> jobs_;
  std::thread sweeper_;  // TTL expiry
  std::thread pinner_;   // pins applied again after a restart
  std::mutex sweeper_mu_;
  std::condition_variable sweeper_cv_;
  bool sweeper_stop_ = false;  // GUARDED_BY(sweeper_mu_)
  std::unique_ptr<S3Service> s3_;
  std::unique_ptr<V1Api> v1_;
  std::unique_ptr<net::HttpServer> server_;
  std::atomic<bool> ready_{false};
  std::chrono::steady_clock::time_point started_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(std::string_view host_port);

}  // namespace sluice::worker
