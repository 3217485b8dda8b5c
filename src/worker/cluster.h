// Cluster: this worker's view of the cluster it belongs to: the membership source
// (static `peers`, or etcd), the ring settings, and the current Placement built from
// them. With neither peers nor etcd the cluster is this worker alone.
//
// The worker's own member id is its advertised "host:port" (`advertise`, else the listen
// address, with 0.0.0.0 read as 127.0.0.1). A static peer list that leaves this worker
// out gets it added. A peer list, an etcd URL and the ring settings are the same on every
// worker of a cluster; ring settings that differ are detected through their fingerprint
// (etcd leaves such a worker out; a forwarded or client request carrying another
// fingerprint is answered 409 RingMismatch).
//
// Thread-safety: Start/Stop from one thread; placement() and the rest are thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "placement/membership.h"
#include "placement/placement.h"

namespace sluice::worker {

struct ClusterConfig {
  std::vector<std::string> peers;  // "host:port" of every worker (static membership)
  std::string etcd;                // etcd URL: membership through etcd instead
  std::string name = "default";    // etcd key prefix /sluice/<name>/workers/
  std::string advertise;           // "host:port" other members and clients reach us at
  Duration lease_ttl = std::chrono::seconds(5);
  placement::RingSettings ring;
  // A request forwarded to its owner fails once no byte moved for this long (an owner
  // that answers nothing in time is then skipped for 3 s and the request served here).
  Duration forward_timeout = std::chrono::seconds(60);
  Status Validate() const;
  // Whether other members are configured (peers or etcd), not a cluster of one.
  bool HasMembers() const { return !peers.empty() || !etcd.empty(); }
};

class Cluster {
 public:
  static Result<std::unique_ptr<Cluster>> Create(ClusterConfig config, std::string listen);
  ~Cluster();
  // Starts the membership (registers in etcd). Fails when etcd cannot be reached.
  Status Start();
  void Stop();

  // The current placement (rebuilt when membership changes). Never null after Start.
  std::shared_ptr<const placement::Placement> placement();
  const placement::Member& self() const { return self_; }
  bool IsSelf(const placement::Member* m) const { return m != nullptr && m->id == self_.id; }
  // Whether there is anyone to forward to.
  bool Distributed();
  const std::string& fingerprint() const { return fingerprint_; }
  const ClusterConfig& config() const { return config_; }
  // GET /v1/cluster: {"self","members":[{"id","endpoint"}],"ring":{...},"fingerprint",
  // "membership"} (the caller adds "mounts").
  nlohmann::json Json();

 private:
  Cluster(ClusterConfig config, placement::Member self);
  ClusterConfig config_;
  placement::Member self_;
  std::string fingerprint_;
  std::unique_ptr<placement::Membership> membership_;
  // One thread builds a new placement (maglev: ~50 ms), outside mu_; the others go on
  // with the one there is meanwhile.
  std::mutex build_mu_;
  std::mutex mu_;
  uint64_t generation_ = 0;                                // GUARDED_BY(mu_)
  std::shared_ptr<const placement::Placement> placement_;  // GUARDED_BY(mu_)
};


}  // namespace sluice::worker
