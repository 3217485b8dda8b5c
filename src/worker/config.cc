#include "worker/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/logging.h"
#include "common/yaml_util.h"
#include "ufs/mount_table.h"

namespace sluice::worker {
namespace {

Status ApplyS3(const YAML::Node& n, ufs::S3Options* o) {
  SLUICE_RETURN_IF_ERROR(
      yaml::CheckKeys(n,
                      {"endpoint", "region", "access_key", "secret_key", "session_token",
                       "addressing", "max_retries", "retry_base_delay", "connect_timeout",
                       "request_timeout", "multipart_threshold", "part_size", "max_connections"},
                      "s3"));
  SLUICE_RETURN_IF_ERROR(yaml::ReadString(n, "endpoint", &o->endpoint));
  SLUICE_RETURN_IF_ERROR(yaml::ReadString(n, "region", &o->region));
  SLUICE_RETURN_IF_ERROR(yaml::ReadString(n, "access_key", &o->access_key));
  SLUICE_RETURN_IF_ERROR(yaml::ReadString(n, "secret_key", &o->secret_key));
  SLUICE_RETURN_IF_ERROR(yaml::ReadString(n, "session_token", &o->session_token));
  SLUICE_RETURN_IF_ERROR(yaml::ReadString(n, "addressing", &o->addressing));
  SLUICE_RETURN_IF_ERROR(yaml::ReadNumber(n, "max_retries", &o->max_retries));
  SLUICE_RETURN_IF_ERROR(yaml::ReadDuration(n, "retry_base_delay", &o->retry_base_delay));
  SLUICE_RETURN_IF_ERROR(yaml::ReadDuration(n, "connect_timeout", &o->connect_timeout));
  SLUICE_RETURN_IF_ERROR(yaml::ReadDuration(n, "request_timeout", &o->request_timeout));
  SLUICE_RETURN_IF_ERROR(yaml::ReadSize(n, "multipart_threshold", &o->multipart_threshold));
  SLUICE_RETURN_IF_ERROR(yaml::ReadSize(n, "part_size", &o->part_size));
  return yaml::ReadNumber(n, "max_connections", &o->max_connections);
}

Status ApplyServer(const YAML::Node& n, net::ServerOptions* o) {
  SLUICE_RETURN_IF_ERROR(yaml::CheckKeys(
      n,
      {"listen", "io_threads", "handler_threads", "max_header_bytes", "max_body_bytes",
       "max_connections", "request_timeout", "min_body_rate", "head_timeout", "idle_timeout"},
      "server"));
  SLUICE_RETURN_IF_ERROR(yaml::ReadString(n, "listen", &o->listen));
  SLUICE_RETURN_IF_ERROR(yaml::ReadNumber(n, "io_threads", &o->io_threads));
  SLUICE_RETURN_IF_ERROR(yaml::ReadNumber(n, "handler_threads", &o->handler_threads));
  uint64_t header = o->max_header_bytes;
  SLUICE_RETURN_IF_ERROR(yaml::ReadSize(n, "max_header_bytes", &header));
  o->max_header_bytes = header;
  SLUICE_RETURN_IF_ERROR(yaml::ReadSize(n, "max_body_bytes", &o->max_body_bytes));
  SLUICE_RETURN_IF_ERROR(yaml::ReadNumber(n, "max_connections", &o->max_connections));
  SLUICE_RETURN_IF_ERROR(yaml::ReadDuration(n, "request_timeout", &o->request_timeout));
  SLUICE_RETURN_IF_ERROR(yaml::ReadSize(n, "min_body_rate", &o->min_body_rate));
  SLUICE_RETURN_IF_ERROR(yaml::ReadDuration(n, "head_timeout", &o->head_timeout));
  return yaml::ReadDuration(n, "idle_timeout", &o->idle_timeout);
}

Status ApplyCache(const YAML::Node& n, CacheOptions* o) {
  SLUICE_RETURN_IF_ERROR(
      yaml::CheckKeys(n,
                      {"page_size", "metadata_ttl", "metadata_max_entries", "readahead_pages",
                       "max_fetch_pages", "fetch_threads", "fetch_attempts"},
                      "cache"));
  SLUICE_RETURN_IF_ERROR(yaml::ReadSize(n, "page_size", &o->page_size));
  SLUICE_RETURN_IF_ERROR(yaml::ReadDuration(n, "metadata_ttl", &o->metadata_ttl));
  SLUICE_RETURN_IF_ERROR(yaml::ReadNumber(n, "metadata_max_entries", &o->metadata_max_entries));
  SLUICE_RETURN_IF_ERROR(yaml::ReadNumber(n, "readahead_pages", &o->readahead_pages));
  SLUICE_RETURN_IF_ERROR(yaml::ReadNumber(n, "max_fetch_pages", &o->max_fetch_pages));
  SLUICE_RETURN_IF_ERROR(yaml::ReadNumber(n, "fetch_threads", &o->fetch_threads));
  return yaml::ReadNumber(n, "fetch_attempts", &o->fetch_attempts);
}

Status ApplyPlacement(const YAML::Node& n, placement::RingSettings* r) {
  SLUICE_RETURN_IF_ERROR(yaml::CheckKeys(
      n, {"policy", "virtual_points", "block_size", "replicas", "replica_rules"}, "placement"));
  SLUICE_RETURN_IF_ERROR(yaml::ReadString(n, "policy", &r->policy));
  SLUICE_RETURN_IF_ERROR(yaml::ReadNumber(n, "virtual_points", &r->virtual_points));
  SLUICE_RETURN_IF_ERROR(yaml::ReadSize(n, "block_size", &r->block_size));
  SLUICE_RETURN_IF_ERROR(yaml::ReadNumber(n, "replicas", &r->replicas));
  if (const auto rules = n["replica_rules"]) {
    if (!rules.IsSequence()) {
      return Status::InvalidArgument("config: 'placement.replica_rules' must be a list");
    }
    for (const auto& e : rules) {
      SLUICE_RETURN_IF_ERROR(yaml::CheckKeys(e, {"prefix", "replicas"}, "a replica rule"));
      placement::ReplicaRule rule;
      SLUICE_RETURN_IF_ERROR(yaml::ReadString(e, "prefix", &rule.prefix));
      SLUICE_RETURN_IF_ERROR(yaml::ReadNumber(e, "replicas", &rule.replicas));
      r->replica_rules.push_back(rule);
    }
  }
  return Status::OK();
}

Status ApplyCluster(const YAML::Node& root, ClusterConfig* c) {
  for (auto& p : PeersOf(root)) c->peers.push_back(std::move(p));
  SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "etcd", &c->etcd));
  SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "cluster_name", &c->name));
  SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "advertise", &c->advertise));
  SLUICE_RETURN_IF_ERROR(yaml::ReadDuration(root, "lease_ttl", &c->lease_ttl));
  SLUICE_RETURN_IF_ERROR(yaml::ReadDuration(root, "forward_timeout", &c->forward_timeout));
  if (const auto n = root["placement"]) SLUICE_RETURN_IF_ERROR(ApplyPlacement(n, &c->ring));
  return Status::OK();
}

// ttl_rules: [{path: /data/tmp, ttl: 10m}]; mount_quotas: [{mount: data, quota: 10GiB}]
Status ApplyRules(const YAML::Node& root, CacheRulesConfig* r) {
  if (const auto rules = root["ttl_rules"]) {
    if (!rules.IsSequence()) return Status::InvalidArgument("config: 'ttl_rules' must be a list");
    for (const auto& e : rules) {
      SLUICE_RETURN_IF_ERROR(yaml::CheckKeys(e, {"path", "ttl"}, "a ttl rule"));
      TtlRule rule;
      SLUICE_RETURN_IF_ERROR(yaml::ReadString(e, "path", &rule.path));
      SLUICE_RETURN_IF_ERROR(yaml::ReadDuration(e, "ttl", &rule.ttl));
      r->ttl_rules.push_back(rule);
    }
  }
  if (const auto quotas = root["mount_quotas"]) {
    if (!quotas.IsSequence()) {
      return Status::InvalidArgument("config: 'mount_quotas' must be a list");
    }
    for (const auto& e : quotas) {
      SLUICE_RETURN_IF_ERROR(yaml::CheckKeys(e, {"mount", "quota"}, "a mount quota"));
      std::string mount;
      uint64_t quota = 0;
      SLUICE_RETURN_IF_ERROR(yaml::ReadString(e, "mount", &mount));
      SLUICE_RETURN_IF_ERROR(yaml::ReadSize(e, "quota", &quota));
      r->mount_quotas[mount] = quota;
    }
  }
  return Status::OK();
}

}  // namespace

Status PageStoreConfig::Validate() const {
  if (memory == 0 && cache_dirs.empty()) {
    return Status::InvalidArgument("the cache needs memory or at least one cache_dir");
  }
  for (const auto& d : cache_dirs) {
    if (d.path.empty()) return Status::InvalidArgument("cache_dir with an empty path");
    if (d.quota == 0)
      return Status::InvalidArgument(fmt::format("cache_dir '{}': quota is 0", d.path));
  }
  if (eviction != "s3fifo" && eviction != "lru" && eviction != "none") {
    return Status::InvalidArgument(
        fmt::format("eviction '{}' is not one of s3fifo, lru, none", eviction));
  }
  return Status::OK();
}

Status WorkerConfig::Validate() const {
  if (!log_level.empty() && !IsLogLevel(log_level)) {
    return Status::InvalidArgument(fmt::format(
        "log_level '{}' is not one of trace, debug, info, warn, error, off", log_level));
  }
  SLUICE_RETURN_IF_ERROR(server.Validate());
  for (const auto& m : mounts) {
    SLUICE_RETURN_IF_ERROR(ufs::ValidateMountName(m.name));
    if (m.uri.empty()) return Status::InvalidArgument(fmt::format("mount '{}': empty uri", m.name));
  }
  SLUICE_RETURN_IF_ERROR(pages.Validate());
  SLUICE_RETURN_IF_ERROR(cache.Validate());
  SLUICE_RETURN_IF_ERROR(cluster.Validate());
  SLUICE_RETURN_IF_ERROR(rules.Validate());
  for (const auto& [mount, quota] : rules.mount_quotas) {
    if (std::none_of(mounts.begin(), mounts.end(), [&](const auto& m) { return m.name == mount; })) {
      return Status::InvalidArgument(fmt::format("mount quota for '{}': no such mount", mount));
    }
  }
  return ufs.Validate();
}

Result<std::map<std::string, std::string>> ParseCredentials(std::string_view spec) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < spec.size()) {
    size_t j = spec.find(',', i);
    if (j == std::string_view::npos) j = spec.size();
    std::string_view pair = spec.substr(i, j - i);
    size_t colon = pair.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == pair.size()) {
      return Status::InvalidArgument("credentials must be ACCESS:SECRET[,ACCESS:SECRET...]");
    }
    out[std::string(pair.substr(0, colon))] = std::string(pair.substr(colon + 1));
    i = j + 1;
  }
  return out;
}

Result<pagestore::DiskDir> ParseCacheDir(std::string_view spec) {
  size_t colon = spec.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == spec.size()) {
    return Status::InvalidArgument(fmt::format("cache dir '{}' is not DIR:SIZE", spec));
  }
  auto quota = ParseSize(spec.substr(colon + 1));
  if (!quota.ok()) return quota.status().WithContext(fmt::format("cache dir '{}'", spec));
  return pagestore::DiskDir{std::string(spec.substr(0, colon)), *quota};
}

std::vector<std::string> PeersOf(const YAML::Node& root) {
  std::vector<std::string> peers;
  if (const auto p = root["peers"]) {
    if (p.IsSequence()) {
      for (const auto& e : p) peers.push_back(e.as<std::string>());
    } else {
      peers.push_back(p.as<std::string>());
    }
  }
  return peers;
}

Status CheckConfigKeys(const YAML::Node& root) {
  return yaml::CheckKeys(
      root,
      {"log_level", "server", "mounts", "memory", "cache_dirs", "eviction", "fsync", "cache",
       "s3", "s3_credentials", "cluster_token", "insecure", "staging_dir", "peers", "etcd",
       "cluster_name", "advertise", "lease_ttl", "forward_timeout", "placement", "ttl_rules",
       "mount_quotas", "state_dir", "cluster", "complete_keepalive"},
      "the top level");
}

Status ApplyWorkerYaml(const std::string& yaml_text, WorkerConfig* c) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(fmt::format("config: {}", e.what()));
  }
  if (!root || root.IsNull()) return Status::OK();
  try {
    SLUICE_RETURN_IF_ERROR(CheckConfigKeys(root));
    SLUICE_RETURN_IF_ERROR(ApplyCluster(root, &c->cluster));
    SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "cluster_token", &c->cluster_token));
    SLUICE_RETURN_IF_ERROR(yaml::ReadBool(root, "insecure", &c->insecure));
    SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "staging_dir", &c->staging_dir));
    SLUICE_RETURN_IF_ERROR(
        yaml::ReadDuration(root, "complete_keepalive", &c->complete_keepalive));
    if (const auto n = root["server"]) SLUICE_RETURN_IF_ERROR(ApplyServer(n, &c->server));
    if (const auto cr = root["s3_credentials"]) {
      if (!cr.IsSequence()) return Status::InvalidArgument("config: 's3_credentials' must be a list");
      for (const auto& e : cr) {
        SLUICE_RETURN_IF_ERROR(yaml::CheckKeys(e, {"access_key", "secret_key"}, "a credential"));
        std::string a, k;
        SLUICE_RETURN_IF_ERROR(yaml::ReadString(e, "access_key", &a));
        SLUICE_RETURN_IF_ERROR(yaml::ReadString(e, "secret_key", &k));
        if (a.empty() || k.empty()) {
          return Status::InvalidArgument("config: a credential needs access_key and secret_key");
        }
        c->s3_credentials[a] = k;
      }
    }
    SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "log_level", &c->log_level));
    SLUICE_RETURN_IF_ERROR(yaml::ReadSize(root, "memory", &c->pages.memory));
    SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "eviction", &c->pages.eviction));
    SLUICE_RETURN_IF_ERROR(yaml::ReadBool(root, "fsync", &c->pages.fsync));
    if (const auto m = root["mounts"]) {
      if (!m.IsSequence()) return Status::InvalidArgument("config: 'mounts' must be a list");
      for (const auto& e : m) {
        SLUICE_RETURN_IF_ERROR(yaml::CheckKeys(e, {"name", "uri"}, "a mount"));
        MountConfig mc;
        SLUICE_RETURN_IF_ERROR(yaml::ReadString(e, "name", &mc.name));
        SLUICE_RETURN_IF_ERROR(yaml::ReadString(e, "uri", &mc.uri));
        c->mounts.push_back(mc);
      }
    }
    if (const auto d = root["cache_dirs"]) {
      if (!d.IsSequence()) return Status::InvalidArgument("config: 'cache_dirs' must be a list");
      for (const auto& e : d) {
        SLUICE_RETURN_IF_ERROR(yaml::CheckKeys(e, {"path", "quota"}, "a cache_dir"));
        pagestore::DiskDir dir;
        SLUICE_RETURN_IF_ERROR(yaml::ReadString(e, "path", &dir.path));
        SLUICE_RETURN_IF_ERROR(yaml::ReadSize(e, "quota", &dir.quota));
        c->pages.cache_dirs.push_back(dir);
      }
    }
    if (const auto n = root["cache"]) SLUICE_RETURN_IF_ERROR(ApplyCache(n, &c->cache));
    SLUICE_RETURN_IF_ERROR(ApplyRules(root, &c->rules));
    SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "state_dir", &c->state_dir));
    if (const auto n = root["s3"]) SLUICE_RETURN_IF_ERROR(ApplyS3(n, &c->ufs.s3));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(fmt::format("config: {}", e.what()));
  }
  return Status::OK();
}

Result<WorkerConfig> LoadWorkerConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(fmt::format("config file '{}' cannot be read", path));
  std::stringstream ss;
  ss << in.rdbuf();
  WorkerConfig c;
  Status s = ApplyWorkerYaml(ss.str(), &c);
  if (!s.ok()) return s.WithContext(path);
  return c;
}

Result<std::shared_ptr<pagestore::PageStore>> BuildPageStore(const PageStoreConfig& config) {
  SLUICE_RETURN_IF_ERROR(config.Validate());
  std::unique_ptr<pagestore::PageStore> memory, disk;
  if (config.memory > 0) {
    SLUICE_ASSIGN_OR_RETURN(memory, pagestore::MakeMemoryStore(pagestore::MemoryStoreOptions{
                                        config.memory, config.eviction}));
  }
  if (!config.cache_dirs.empty()) {
    pagestore::DiskStoreOptions o;
    o.dirs = config.cache_dirs;
    o.eviction = config.eviction;
    o.fsync = config.fsync;
    SLUICE_ASSIGN_OR_RETURN(disk, pagestore::OpenDiskStore(o));
  }
  if (memory && !disk) return std::shared_ptr<pagestore::PageStore>(std::move(memory));
  if (disk && !memory) return std::shared_ptr<pagestore::PageStore>(std::move(disk));
  return std::shared_ptr<pagestore::PageStore>(
      pagestore::MakeTieredStore(std::move(memory), std::move(disk)));
}

}  // namespace sluice::worker

namespace sluice::worker {

Result<Engine> BuildEngine(const WorkerConfig& config) {
  SLUICE_RETURN_IF_ERROR(config.Validate());
  Engine e;
  e.mounts = std::make_shared<ufs::MountTable>();
  for (const auto& m : config.mounts) {
    SLUICE_RETURN_IF_ERROR(e.mounts->AddUri(m.name, m.uri, config.ufs));
  }
  SLUICE_ASSIGN_OR_RETURN(e.pages, BuildPageStore(config.pages));
  e.cache = std::make_shared<ReadThroughCache>(config.cache, e.mounts, e.pages);
  return e;
}

}  // namespace sluice::worker
