// The worker's configuration: one tree of plain structs composed from its components'
// options, loaded from YAML (see deploy/sluice.yaml for every key, commented) and then
// overridden by command-line flags. Validate() reports the first bad field.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "pagestore/page_store.h"
#include "ufs/options.h"
#include "worker/cache_rules.h"
#include "worker/cluster.h"
#include "worker/read_through.h"

namespace sluice::worker {

struct MountConfig {
  std::string name;  // the first path segment: /NAME/...
  std::string uri;   // file:///dir, s3://bucket/prefix?endpoint=..., http(s)://...
};

struct PageStoreConfig {
  uint64_t memory = 1 * kGiB;                  // memory tier capacity; 0 disables it
  std::vector<pagestore::DiskDir> cache_dirs;  // disk tier: directories with quotas
  std::string eviction = "s3fifo";             // s3fifo | lru | none
  bool fsync = false;                          // fsync disk pages before publishing them
  Status Validate() const;
};

struct WorkerConfig {
  std::string log_level;  // "": the command line's (a worker logs at info by default)
  net::ServerOptions server;  // listen address, threads, limits
  std::vector<MountConfig> mounts;
  // S3 API credentials (access key -> secret). Empty: requests are not authenticated,
  // which is allowed only on loopback unless `insecure`. Also SLUICE_S3_CREDENTIALS.
  std::map<std::string, std::string> s3_credentials;
  std::string cluster_token;  // required on /v1 when set (also SLUICE_CLUSTER_TOKEN)
  bool insecure = false;      // allow listening beyond loopback without credentials
  // Where uploads are staged (multipart parts, write-through copies). Default: the first
  // cache dir's "staging" folder, else a folder under the system temp dir.
  std::string staging_dir;
  // How long a CompleteMultipartUpload streams its parts before it answers 200 and keeps
  // the connection alive with spaces (S3ServiceOptions::complete_keepalive).
  Duration complete_keepalive = std::chrono::seconds(5);
  PageStoreConfig pages;
  CacheOptions cache;
  ufs::UnderStoreOptions ufs;
  ClusterConfig cluster;  // peers or etcd, ring settings (worker/cluster.h)
  CacheRulesConfig rules;  // TTLs and mount quotas (worker/cache_rules.h)
  // Where load jobs and pins are kept across restarts. Default: the first cache dir's
  // "state" folder; without a cache dir, nothing is kept.
  std::string state_dir;
  Status Validate() const;
};

// Loads a YAML file over the defaults. Unknown keys are errors.
Result<WorkerConfig> LoadWorkerConfig(const std::string& path);
Status ApplyWorkerYaml(const std::string& yaml_text, WorkerConfig* config);
// Fails naming the first top-level key that no part of Sluice reads (a typo): one file
// serves the workers and the clients of a cluster (`cluster` is the clients' seeds).
Status CheckConfigKeys(const YAML::Node& root);
// The config's `peers`: a list of "host:port", or one "a,b" string (as --peers takes).
std::vector<std::string> PeersOf(const YAML::Node& root);

// Parses "ACCESS:SECRET[,ACCESS:SECRET...]" (SLUICE_S3_CREDENTIALS).
Result<std::map<std::string, std::string>> ParseCredentials(std::string_view spec);

// Parses "DIR:SIZE" (the --cache-dir flag).
Result<pagestore::DiskDir> ParseCacheDir(std::string_view spec);

// Builds the page store a PageStoreConfig describes (memory, disk or both, tiered).
Result<std::shared_ptr<pagestore::PageStore>> BuildPageStore(const PageStoreConfig& config);

}  // namespace sluice::worker

namespace sluice::worker {

// The single-node cache a WorkerConfig describes: its mounts, page store and engine.
struct Engine {
  std::shared_ptr<ufs::MountTable> mounts;
  std::shared_ptr<pagestore::PageStore> pages;
  std::shared_ptr<ReadThroughCache> cache;
};
Result<Engine> BuildEngine(const WorkerConfig& config);

}  // namespace sluice::worker
