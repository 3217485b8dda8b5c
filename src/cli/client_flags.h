// Flags shared by the client commands (ls, stat, cat, cp, status, ...): how to find the
// cluster (--cluster, then SLUICE_CLUSTER, then the config file's `cluster` key; or
// --etcd / SLUICE_ETCD) and the cluster token (SLUICE_CLUSTER_TOKEN or the config file).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "sluice/client.h"

namespace sluice::cli {

struct ClientFlags {
  std::string cluster;
  std::string etcd;
  std::string config;
  bool json = false;
};

void AddClientFlags(CLI::App* cmd, ClientFlags* flags);
Result<ClientOptions> ClientOptionsFrom(const ClientFlags& flags);
Result<std::unique_ptr<Client>> ConnectFrom(const ClientFlags& flags);

// A cluster path as written on the command line: "sluice://NAME/a", "sluice:/NAME/a" or
// "/NAME/a" -> "/NAME/a". `cluster_only`: only the sluice: forms count (for cp, where a
// bare path is local); returns false when `arg` is not a cluster path.
bool ClusterPath(const std::string& arg, bool cluster_only, std::string* path);

}  // namespace sluice::cli
