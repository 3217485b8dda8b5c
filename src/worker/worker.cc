#include "worker/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "common/logging.h"
#include "net/http.h"
#include "net/s3_errors.h"
#include "worker/forward.h"

namespace sluice::worker {
namespace {

std::string HostOf(std::string_view host_port) {
  if (!host_port.empty() && host_port[0] == '[') {
    size_t end = host_port.find(']');
    return std::string(host_port.substr(1, end == std::string_view::npos ? end : end - 1));
  }
  size_t colon = host_port.rfind(':');
  return std::string(host_port.substr(0, colon));
}

void AddStat(std::vector<metrics::Sample>* out, const std::string& name, const char* type,
             const std::string& help, double v, metrics::Labels labels = {}) {
  out->push_back({name, type, help, std::move(labels), v});
}

}  // namespace

bool IsLoopbackHost(std::string_view host_port) {
  std::string h = HostOf(host_port);
  if (h == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  return inet_pton(AF_INET6, h.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

Result<std::unique_ptr<Worker>> Worker::Create(WorkerConfig config) {
  SLUICE_RETURN_IF_ERROR(config.Validate());
  if (!IsLoopbackHost(config.server.listen) && !config.insecure) {
    if (config.s3_credentials.empty()) {
      return Status::PermissionDenied(fmt::format(
          "refusing to listen on {} without S3 credentials: set s3_credentials in the config or "
          "SLUICE_S3_CREDENTIALS, or pass --insecure",
          config.server.listen));
    }
    if (config.cluster_token.empty()) {
      return Status::PermissionDenied(fmt::format(
          "refusing to listen on {} without a cluster token for the /v1 API: set cluster_token "
          "in the config or SLUICE_CLUSTER_TOKEN, or pass --insecure",
          config.server.listen));
    }
  }
  if (config.staging_dir.empty()) {
    config.staging_dir =
        !config.pages.cache_dirs.empty()
            ? config.pages.cache_dirs.front().path + "/staging"
            : (std::filesystem::temp_directory_path() / fmt::format("sluice-staging-{}", getpid()))
                  .string();
  }
  if (config.cluster.HasMembers()) {
    config.cache.readahead_boundary = config.cluster.ring.block_size;
  }
  std::unique_ptr<Worker> w(new Worker(std::move(config)));
  const WorkerConfig& c = w->config_;
  SLUICE_ASSIGN_OR_RETURN(w->engine_, BuildEngine(c));
  SLUICE_ASSIGN_OR_RETURN(w->cluster_, Cluster::Create(c.cluster, c.server.listen));
  w->forwarded_ = w->registry_.GetCounter("sluice_forwarded_requests_total",
                                          "Requests passed to the owning worker.");
  w->forward_fallbacks_ = w->registry_.GetCounter(
      "sluice_forward_fallbacks_total", "Requests served here because their owner was down.");
  uint64_t capacity = w->engine_.pages->GetStats().capacity;
  w->writes_ = std::make_shared<WriteThrough>(w->engine_.mounts, w->engine_.cache, c.staging_dir,
                                              capacity / 4);
  w->uploads_ = std::make_shared<MultipartUploads>(
      w->writes_.get(), c.staging_dir,
      c.cluster.HasMembers() ? MultipartUploads::UploadIdPrefix(w->cluster_->self().id) : "");
  S3ServiceOptions so;
  so.credentials = c.s3_credentials;
  so.listing_ttl = c.cache.metadata_ttl;
  so.max_part_bytes = c.server.max_body_bytes;
  so.complete_keepalive = c.complete_keepalive;
  if (c.cluster.HasMembers()) {
    w->blocks_ = std::make_unique<Peers>(w->cluster_.get(), c.cluster_token);
    so.blocks = w->blocks_.get();
    w->writes_->OnChange([peers = w->blocks_.get()](const std::string& path) {
      peers->BroadcastChange(path);
    });
  }
  w->s3_ = std::make_unique<S3Service>(so, w->engine_.mounts, w->engine_.cache, w->writes_,
                                       w->uploads_, &w->registry_);
  Worker* self = w.get();
  w->v1_ = std::make_unique<V1Api>(
      c.cluster_token, w->engine_.mounts, w->engine_.cache, w->writes_, w->s3_->listings(),
      [self] { return self->StatusJson(); }, [self] { return self->ClusterJson(); });
  const std::string state_dir =
      !c.state_dir.empty()            ? c.state_dir
      : !c.pages.cache_dirs.empty()   ? c.pages.cache_dirs.front().path + "/state"
                                      : "";
  CacheRulesConfig rules = c.rules;
  rules.page_size = c.cache.page_size;
  w->rules_ = std::make_shared<CacheRules>(rules, w->engine_.mounts, w->engine_.pages, state_dir);
  w->engine_.cache->SetPagePolicy(w->rules_);
  LoadJobs::Deps deps;
  deps.mounts = w->engine_.mounts;
  deps.cache = w->engine_.cache;
  deps.owns = [self](std::string_view path, uint64_t block, int replicas) {
    auto p = self->cluster_->placement();
    const size_t want = replicas > 0 ? static_cast<size_t>(replicas)
                                     : static_cast<size_t>(p->ReplicasFor(path));
    const size_t base = static_cast<size_t>(p->ReplicasFor(path));
    auto owners = p->Owners(path, block, want > base ? want - base : 0);
    for (size_t i = 0; i < owners.size() && i < want; ++i) {
      if (self->cluster_->IsSelf(owners[i])) return true;
    }
    return false;
  };
  deps.block_size = [self] { return self->cluster_->placement()->settings().block_size; };
  // One member lists for the whole job: the first owner of its path (nullopt here when it
  // is this worker). The others read its cached pages, and list the store themselves only
  // while it cannot be reached.
  auto lister_of = [self](const LoadSpec& job) -> std::optional<placement::Member> {
    auto p = self->cluster_->placement();
    if (!self->blocks_ || p->members().size() < 2) return std::nullopt;
    auto owners = p->Owners(job.path);
    if (owners.empty() || self->cluster_->IsSelf(owners.front())) return std::nullopt;
    return *owners.front();
  };
  deps.list = [self, lister_of](const LoadSpec& job, const ufs::Resolved& where,
                                const ufs::ListOptions& o) -> Result<ufs::ListPage> {
    if (auto lister = lister_of(job)) {
      auto page = self->blocks_->ListFrom(*lister, where.mount, o, job.id);
      if (page.ok()) return page;
      SLUICE_LOG_INFO("load {}: listing {} through {}: {}; listing it here", job.id, job.path,
                      lister->id, page.status().ToString());
    }
    return self->s3_->listings()->List(where, o, job.id);
  };
  deps.lister = [lister_of](const LoadSpec& job) {
    auto lister = lister_of(job);
    return lister ? lister->id : std::string();
  };
  deps.members = [self] {
    std::vector<std::string> ids;
    for (const auto& m : self->cluster_->placement()->members()) ids.push_back(m.id);
    return ids;
  };
  deps.state_dir = state_dir;
  w->jobs_ = std::make_shared<LoadJobs>(std::move(deps));
  w->jobs_->LoadPersisted();
  w->v1_->SetDatasetOps(w->jobs_, w->rules_);
  w->server_ = std::make_unique<net::HttpServer>(
      c.server,
      [self](const net::HttpRequest& req, net::BodyReader& body, net::ResponseWriter& out) {
        self->Route(req, body, out);
      },
      [self](const net::HttpRequest& req, net::ResponseWriter& out) {
        // S3 object GETs from memory and cached /v1 stats of requests that are served
        // here (the client's, carrying our ring); everything else goes to the handler pool.
        if (req.path == "/v1/stat") {
          return req.HasHeader(kHopHeader) &&
                 req.Header(kRingHeader) == self->cluster_->fingerprint() &&
                 self->v1_->TryInline(req, out);
        }
        // Probes never wait behind busy handler threads (slow uploads can hold them all).
        if (req.path == "/healthz" || req.path == "/readyz") {
          self->Probe(req.path, out);
          return true;
        }
        if (req.path.starts_with("/v1/") || req.path == "/metrics") return false;
        return self->s3_->TryInline(req, out);
      });
  w->RegisterCollectors();
  return w;
}

Worker::~Worker() { Stop(std::chrono::seconds(1)); }

Status Worker::Start() {
  SLUICE_RETURN_IF_ERROR(server_->Start());
  if (Status s = cluster_->Start(); !s.ok()) {
    server_->Stop(std::chrono::seconds(1));
    return s.WithContext("cluster membership");
  }
  started_ = std::chrono::steady_clock::now();
  ready_ = true;
  jobs_->StartResumed();
  pinner_ = std::thread([this] { rules_->ReapplyPins(); });  // recovered pages come unpinned
  sweeper_ = std::thread([this] {
    std::unique_lock lock(sweeper_mu_);
    while (!sweeper_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return sweeper_stop_; })) {
      lock.unlock();
      rules_->Sweep();
      lock.lock();
    }
  });
  SLUICE_LOG_INFO("worker listening on {} with {} mount(s)", endpoint(), config_.mounts.size());
  return Status::OK();
}

void Worker::Stop(Duration grace) {
  if (!server_) return;
  ready_ = false;
  // Leave the membership first (revoke the etcd lease): the others stop sending us
  // requests while ours drain. The member list stays as it was for those.
  if (cluster_) cluster_->Stop();
  server_->Stop(grace);
  if (pinner_.joinable()) {
    rules_->Cancel();
    pinner_.join();
  }
  if (sweeper_.joinable()) {
    {
      std::lock_guard lock(sweeper_mu_);
      sweeper_stop_ = true;
    }
    sweeper_cv_.notify_all();
    sweeper_.join();
  }
  if (jobs_) jobs_->Shutdown();  // running jobs keep their checkpoints, to resume
}

std::string Worker::endpoint() const {
  std::string host = HostOf(config_.server.listen);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  return fmt::format("http://{}:{}", host, server_->port());
}

void Worker::Probe(std::string_view path, net::ResponseWriter& out) {
  if (path == "/healthz") return (void)out.Send(200, "text/plain", "ok\n");
  if (ready_) return (void)out.Send(200, "text/plain", "ready\n");
  (void)out.Send(503, "text/plain", "not ready\n");
}

void Worker::Route(const net::HttpRequest& req, net::BodyReader& body, net::ResponseWriter& out) {
  const std::string& p = req.path;
  if (p == "/healthz" || p == "/readyz") return Probe(p, out);
  if (p == "/metrics" && req.method == "GET") {
    return (void)out.Send(200, "text/plain; version=0.0.4", registry_.Render());
  }
  if (MaybeForward(req, body, out)) return;
  if (p.starts_with("/v1/")) return v1_->Handle(req, body, out);
  s3_->Handle(req, body, out);
}

namespace {

// The namespace path and block a request is about, for placement; false for requests
// any worker serves (listings, bucket operations, status).
bool RoutingKey(const net::HttpRequest& req, const placement::Placement& p, std::string* path,
                uint64_t* block) {
  *block = 0;
  if (req.path.starts_with("/v1/")) {
    std::string_view op = std::string_view(req.path).substr(4);
    if (op != "stat" && op != "read" && op != "write" && op != "object") return false;
    bool have_offset = false;  // the first of each, as V1Api reads (it refuses repeats)
    for (auto& [k, v] : net::ParseQuery(req.query)) {
      if (k == "path" && path->empty()) *path = v;
      if (k == "offset" && op == "read" && !have_offset) {
        *block = p.BlockOf(std::strtoull(v.c_str(), nullptr, 10));
        have_offset = true;
      }
    }
    return !path->empty();
  }
  auto decoded = net::UrlDecode(req.path);
  if (!decoded) return false;
  size_t slash = decoded->find('/', 1);
  if (slash == std::string::npos || slash + 1 >= decoded->size()) return false;  // no key
  *path = std::move(*decoded);
  return true;
}

// The member that created the multipart upload a request names (uploadId=), if any.
std::optional<std::string> UploadCreator(std::string_view query) {
  if (query.find("uploadId=") == std::string_view::npos) return std::nullopt;
  for (auto& [k, v] : net::ParseQuery(query)) {
    if (k == "uploadId") return MultipartUploads::CreatorOf(v);
  }
  return std::nullopt;
}

}  // namespace

bool Worker::MaybeForward(const net::HttpRequest& req, net::BodyReader& body,
                          net::ResponseWriter& out) {
  if (auto ring = req.Header(kRingHeader); !ring.empty() && ring != cluster_->fingerprint()) {
    (void)out.Send(409, "application/json",
                   nlohmann::json{{"error",
                                   {{"code", "RingMismatch"},
                                    {"message", fmt::format(
                                                    "ring settings differ: the request's "
                                                    "fingerprint is {}, this worker's ({}) is {}",
                                                    ring, cluster_->self().id,
                                                    cluster_->fingerprint())}}}}
                       .dump());
    return true;
  }
  if (req.HasHeader(kHopHeader)) return false;
  auto p = cluster_->placement();
  if (p->members().size() < 2) return false;
  std::string path;
  uint64_t block = 0;
  if (!RoutingKey(req, *p, &path, &block)) return false;
  auto owners = p->Owners(path, block);
  // A multipart upload's parts, completion and abort go where it was created (its state
  // lives there), whoever owns the path now; the ring decides when that member is gone.
  bool to_creator = false;
  if (auto creator = UploadCreator(req.query)) {
    if (const auto* m = p->Find(*creator)) {
      owners = {m};
      to_creator = true;
    }
  }
  for (const auto* o : owners) {
    if (cluster_->IsSelf(o)) return false;  // we are a replica
  }
  ForwardOptions fo;
  fo.stall_timeout = cluster_->config().forward_timeout;
  fo.ring_fingerprint = cluster_->fingerprint();
  for (const auto* o : owners) {
    // An owner found unreachable a moment ago is not waited for again (a hung one costs
    // forward_timeout each time). Not so an upload's creator: only it can answer.
    if (!to_creator && blocks_ != nullptr && blocks_->IsDown(o->id)) continue;
    bool unreachable = false, silent = false;
    Status s = Forward(req, body, out, o->endpoint, fo, &unreachable, &silent);
    if (silent && blocks_ != nullptr) blocks_->MarkDown(o->id, std::chrono::seconds(3));
    if (!unreachable) {
      forwarded_->Inc();
      if (!s.ok()) SLUICE_LOG_DEBUG("forward {} {} to {}: {}", req.method, path, o->id, s.ToString());
      return true;
    }
    SLUICE_LOG_DEBUG("owner {} of {} unreachable: {}", o->id, path, s.ToString());
  }
  if (to_creator) {
    // Served here it would be NoSuchUpload (404, final): 503 asks the client to retry.
    const net::S3Error e = net::S3Error::Of(
        503, "ServiceUnavailable",
        fmt::format("the worker holding this upload ({}) does not answer; retry",
                    owners.front()->id));
    (void)out.Send(503, "application/xml", net::RenderS3ErrorXml(e, req.path, ""));
    return true;
  }
  forward_fallbacks_->Inc();
  return false;  // every owner is down: serve it here
}

nlohmann::json Worker::ClusterJson() {
  auto j = cluster_->Json();
  nlohmann::json mounts = nlohmann::json::array();
  for (const auto& m : engine_.mounts->List()) mounts.push_back({{"name", m.name}, {"uri", m.uri}});
  for (const auto& r : engine_.mounts->Roots()) mounts.push_back({{"name", r.name}, {"uri", r.uri}});
  j["mounts"] = mounts;
  j["metadata_ttl_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.cache.metadata_ttl).count();
  return j;
}

nlohmann::json Worker::StatusJson() const {
  auto ps = engine_.pages->GetStats();
  auto rs = engine_.cache->GetStats();
  auto ms = engine_.cache->GetMetadataStats();
  nlohmann::json mounts = nlohmann::json::array();
  uint64_t ufs_reads = 0, ufs_bytes = 0;
  for (const auto& m : engine_.mounts->List()) {
    auto us = m.store->GetStats();
    ufs_reads += us.reads;
    ufs_bytes += us.bytes_read;
    mounts.push_back({{"name", m.name}, {"uri", m.uri}, {"reads", us.reads},
                      {"bytes_read", us.bytes_read}, {"errors", us.errors}});
  }
  uint64_t lookups = rs.page_hits + rs.page_misses;
  double up = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return {{"id", cluster_->self().id},
          {"endpoint", endpoint()},
          {"state", ready_ ? "ready" : "stopping"},
          {"uptime_seconds", up},
          {"capacity_bytes", ps.capacity},
          {"used_bytes", ps.bytes_used},
          {"pages", ps.pages},
          {"hit_ratio", lookups ? static_cast<double>(rs.page_hits) / lookups : 0.0},
          {"page_hits", rs.page_hits},
          {"page_misses", rs.page_misses},
          {"ufs_reads", rs.ufs_reads},
          {"ufs_bytes", rs.ufs_bytes},
          {"evictions", ps.evictions},
          {"metadata_entries", ms.entries},
          {"pinned_pages", ps.pinned_pages},
          {"mounts", mounts},
          {"rules", rules_->Json()},
          {"load_jobs", jobs_->List()}};
}

void Worker::RegisterCollectors() {
  registry_.AddCollector([this](std::vector<metrics::Sample>* out) {
    auto ps = engine_.pages->GetStats();
    AddStat(out, "sluice_page_store_hits_total", "counter", "Page store hits.", ps.hits);
    AddStat(out, "sluice_page_store_misses_total", "counter", "Page store misses.", ps.misses);
    AddStat(out, "sluice_page_store_evictions_total", "counter", "Pages evicted.", ps.evictions);
    AddStat(out, "sluice_page_store_admissions_refused_total", "counter",
            "Pages the store refused to admit.", ps.admissions_refused);
    AddStat(out, "sluice_page_store_checksum_failures_total", "counter",
            "Pages dropped for a bad checksum.", ps.checksum_failures);
    AddStat(out, "sluice_page_store_io_errors_total", "counter", "Disk errors.", ps.io_errors);
    AddStat(out, "sluice_page_store_pages", "gauge", "Pages held.", ps.pages);
    AddStat(out, "sluice_page_store_used_bytes", "gauge", "Page bytes held.", ps.bytes_used);
    AddStat(out, "sluice_page_store_capacity_bytes", "gauge", "Page store capacity.", ps.capacity);
    AddStat(out, "sluice_page_store_pinned_pages", "gauge", "Pinned pages.", ps.pinned_pages);

    auto rs = engine_.cache->GetStats();
    uint64_t lookups = rs.page_hits + rs.page_misses;
    AddStat(out, "sluice_cache_page_hits_total", "counter", "Pages served from the cache.",
            rs.page_hits);
    AddStat(out, "sluice_cache_page_misses_total", "counter", "Pages fetched for readers.",
            rs.page_misses);
    AddStat(out, "sluice_cache_hit_ratio", "gauge", "Page hits over page lookups since start.",
            lookups ? static_cast<double>(rs.page_hits) / lookups : 0);
    AddStat(out, "sluice_cache_bytes_served_total", "counter", "Bytes returned to readers.",
            rs.bytes_served);
    AddStat(out, "sluice_ufs_reads_total", "counter", "Ranged reads issued to under stores.",
            rs.ufs_reads);
    AddStat(out, "sluice_ufs_read_bytes_total", "counter", "Bytes read from under stores.",
            rs.ufs_bytes);
    AddStat(out, "sluice_ufs_read_errors_total", "counter", "Failed under-store reads.",
            rs.ufs_errors);
    AddStat(out, "sluice_cache_readahead_pages_total", "counter", "Pages fetched ahead.",
            rs.readahead_pages);
    AddStat(out, "sluice_cache_single_flight_waits_total", "counter",
            "Misses served by another reader's fetch.", rs.single_flight_waits);
    AddStat(out, "sluice_cache_version_changes_total", "counter",
            "Reads that found a new object version.", rs.version_changes);
    AddStat(out, "sluice_cache_passthrough_pages_total", "counter",
            "Pages served without being cached (store full or failing).", rs.store_put_failures);

    auto ms = engine_.cache->GetMetadataStats();
    AddStat(out, "sluice_metadata_hits_total", "counter", "Metadata cache hits.", ms.hits);
    AddStat(out, "sluice_metadata_misses_total", "counter", "Metadata cache misses.", ms.misses);
    AddStat(out, "sluice_metadata_entries", "gauge", "Metadata cache entries.", ms.entries);

    for (const auto& m : engine_.mounts->List()) {
      auto us = m.store->GetStats();
      metrics::Labels l{{"mount", m.name}};
      AddStat(out, "sluice_ufs_operations_total", "counter", "Under-store calls.", us.reads,
              {{"mount", m.name}, {"op", "read"}});
      AddStat(out, "sluice_ufs_operations_total", "counter", "Under-store calls.", us.stats,
              {{"mount", m.name}, {"op", "stat"}});
      AddStat(out, "sluice_ufs_operations_total", "counter", "Under-store calls.", us.lists,
              {{"mount", m.name}, {"op", "list"}});
      AddStat(out, "sluice_ufs_operations_total", "counter", "Under-store calls.", us.writes,
              {{"mount", m.name}, {"op", "write"}});
      AddStat(out, "sluice_ufs_errors_total", "counter", "Under-store errors.", us.errors, l);
      AddStat(out, "sluice_ufs_retries_total", "counter", "Under-store retries.", us.retries, l);
      AddStat(out, "sluice_ufs_bytes_read_total", "counter", "Bytes read from the store.",
              us.bytes_read, l);
      AddStat(out, "sluice_ufs_bytes_written_total", "counter", "Bytes written to the store.",
              us.bytes_written, l);
    }
    auto ws = writes_->GetStats();
    AddStat(out, "sluice_writes_committed_total", "counter", "Objects written through.",
            ws.committed);
    AddStat(out, "sluice_writes_bytes_total", "counter", "Bytes written through.", ws.bytes);
    AddStat(out, "sluice_writes_pages_cached_total", "counter", "Pages cached on write.",
            ws.pages_cached);
    if (blocks_ != nullptr) {
      AddStat(out, "sluice_block_remote_reads_total", "counter",
              "Block ranges of large objects read from their owners.", blocks_->remote_reads());
    }
    auto lt = jobs_->Totals();
    AddStat(out, "sluice_load_files_total", "counter", "Objects loaded by load jobs.", lt.files);
    AddStat(out, "sluice_load_bytes_total", "counter", "Bytes loaded by load jobs.", lt.bytes);
    AddStat(out, "sluice_load_failures_total", "counter", "Objects load jobs failed to load.",
            lt.failures);
    AddStat(out, "sluice_load_mismatches_total", "counter",
            "Objects whose cached bytes differed from the under store (load --verify).",
            lt.mismatches);
    AddStat(out, "sluice_load_jobs_running", "gauge", "Load jobs running here.", lt.running);
    AddStat(out, "sluice_prefetch_queued_total", "counter", "Paths queued by /v1/prefetch.",
            lt.prefetch_queued);
    AddStat(out, "sluice_prefetch_loaded_total", "counter", "Prefetched objects loaded.",
            lt.prefetch_loaded);
    AddStat(out, "sluice_prefetch_already_cached_total", "counter",
            "Prefetched objects that were cached already (nothing read).", lt.prefetch_cached);
    AddStat(out, "sluice_prefetch_dropped_total", "counter",
            "Prefetch paths refused because the queue was full.", lt.prefetch_dropped);
    AddStat(out, "sluice_prefetch_failed_total", "counter", "Prefetches that failed.",
            lt.prefetch_failed);
    auto cr = rules_->GetStats();
    AddStat(out, "sluice_pinned_paths", "gauge", "Pinned paths.", cr.pins);
    AddStat(out, "sluice_ttl_tracked_objects", "gauge", "Cached objects under a TTL rule.",
            cr.ttl_tracked);
    AddStat(out, "sluice_ttl_expired_objects_total", "counter",
            "Objects whose cached pages expired under a TTL rule.", cr.ttl_expired);
    AddStat(out, "sluice_ttl_expired_pages_total", "counter", "Pages dropped by TTL expiry.",
            cr.ttl_expired_pages);
    AddStat(out, "sluice_page_store_quota_evictions_total", "counter",
            "Pages evicted because their mount was at its quota.", ps.quota_evictions);
    for (const auto& [mount, quota] : config_.rules.mount_quotas) {
      AddStat(out, "sluice_mount_quota_bytes", "gauge", "A mount's cache quota.", quota,
              {{"mount", mount}});
      AddStat(out, "sluice_mount_cached_bytes", "gauge", "Page bytes a mount with a quota holds.",
              engine_.pages->GroupBytes(rules_->GroupOf(mount)), {{"mount", mount}});
    }
    auto ss = server_->GetStats();
    AddStat(out, "sluice_http_connections_open", "gauge", "Open connections.",
            ss.connections_open);
    AddStat(out, "sluice_http_connections_refused_total", "counter",
            "Connections refused over the limit.", ss.connections_refused);
    AddStat(out, "sluice_http_requests_total", "counter", "HTTP requests.", ss.requests);
    AddStat(out, "sluice_http_bad_requests_total", "counter", "Malformed requests.",
            ss.bad_requests);
    AddStat(out, "sluice_http_bytes_out_total", "counter", "Bytes sent.", ss.bytes_out);
  });
}

}  // namespace sluice::worker
