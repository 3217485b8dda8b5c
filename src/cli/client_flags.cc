#include "cli/client_flags.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/yaml_util.h"
#include "worker/config.h"

namespace sluice::cli {

void AddClientFlags(CLI::App* cmd, ClientFlags* f) {
  cmd->add_option("--cluster", f->cluster,
                  "workers HOST:PORT[,HOST:PORT...] (default: $SLUICE_CLUSTER)");
  cmd->add_option("--etcd", f->etcd, "find the workers in etcd at this URL (default: $SLUICE_ETCD)");
  cmd->add_option("--config", f->config,
                  "the cluster's YAML config: `cluster` (or the workers' `peers`), `etcd`, "
                  "`cluster_token`");
  cmd->add_flag("--json", f->json, "print JSON");
}

Result<ClientOptions> ClientOptionsFrom(const ClientFlags& f) {
  ClientOptions o;
  std::string config_cluster, config_etcd, config_token;
  if (!f.config.empty()) {
    try {
      YAML::Node root = YAML::LoadFile(f.config);
      if (root && root.IsMap()) SLUICE_RETURN_IF_ERROR(worker::CheckConfigKeys(root));
      SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "cluster", &config_cluster));
      // A workers' config names them as `peers` (a list or one "a,b" string).
      if (config_cluster.empty()) {
        config_cluster = fmt::format("{}", fmt::join(worker::PeersOf(root), ","));
      }
      SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "etcd", &config_etcd));
      SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "cluster_token", &config_token));
      SLUICE_RETURN_IF_ERROR(yaml::ReadString(root, "cluster_name", &o.etcd_cluster));
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument(fmt::format("config {}: {}", f.config, e.what()));
    }
  }
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  // The cluster is found from one place, the first that names it: the flags, else the
  // environment, else the config. (--cluster X with SLUICE_ETCD left in the environment
  // from another cluster must not read that etcd's members.)
  if (!f.cluster.empty() || !f.etcd.empty()) {
    o.cluster = f.cluster;
    o.etcd = f.etcd;
  } else if (!env("SLUICE_CLUSTER").empty() || !env("SLUICE_ETCD").empty()) {
    o.cluster = env("SLUICE_CLUSTER");
    o.etcd = env("SLUICE_ETCD");
  } else {
    o.cluster = config_cluster;
    o.etcd = config_etcd;
  }
  o.token = !env("SLUICE_CLUSTER_TOKEN").empty() ? env("SLUICE_CLUSTER_TOKEN") : config_token;
  return o;
}

Result<std::unique_ptr<Client>> ConnectFrom(const ClientFlags& f) {
  SLUICE_ASSIGN_OR_RETURN(auto o, ClientOptionsFrom(f));
  return Client::Connect(std::move(o));
}

bool ClusterPath(const std::string& arg, bool cluster_only, std::string* path) {
  std::string_view a = arg;
  if (a.starts_with("sluice://")) {
    *path = "/" + std::string(a.substr(9));
    return true;
  }
  if (a.starts_with("sluice:/")) {
    *path = std::string(a.substr(7));
    return true;
  }
  if (cluster_only) return false;
  *path = a.starts_with("/") ? arg : "/" + arg;
  return true;
}

}  // namespace sluice::cli
