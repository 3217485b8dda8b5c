#include "worker/cluster.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/logging.h"
#include "placement/ring_json.h"

namespace sluice::worker {

using nlohmann::json;

Status ClusterConfig::Validate() const {
  if (!peers.empty() && !etcd.empty()) {
    return Status::InvalidArgument("give either peers or etcd, not both");
  }
  if (name.empty() || name.find('/') != std::string::npos) {
    return Status::InvalidArgument(fmt::format("cluster name '{}' must be non-empty, no '/'", name));
  }
  if (forward_timeout < std::chrono::seconds(1)) {
    return Status::InvalidArgument("forward_timeout must be at least 1s");
  }
  return ring.Validate();
}

Cluster::Cluster(ClusterConfig config, placement::Member self)
    : config_(std::move(config)), self_(std::move(self)), fingerprint_(config_.ring.Fingerprint()) {}

Cluster::~Cluster() { Stop(); }

Result<std::unique_ptr<Cluster>> Cluster::Create(ClusterConfig config, std::string listen) {
  SLUICE_RETURN_IF_ERROR(config.Validate());
  std::string id = config.advertise.empty() ? listen : config.advertise;
  const bool wildcard = id.starts_with("0.0.0.0:") || id.starts_with("[::]:");
  if (id.starts_with("0.0.0.0:")) id = "127.0.0.1:" + id.substr(8);
  if (id.starts_with("[::]:")) id = "127.0.0.1:" + id.substr(5);
  // A wildcard address names no host the others can reach: every worker of a cluster on
  // several hosts would be 127.0.0.1:PORT (one etcd key, overwritten in turn; a phantom
  // member among static peers). Only a cluster on this host may go without --advertise.
  bool local_peer = false;  // the peers (each entry may be a comma-separated list) name us
  for (const auto& entry : config.peers) {
    auto parsed = placement::ParsePeers(entry);
    if (!parsed.ok()) continue;
    for (const auto& m : *parsed) local_peer |= m.id == id;
  }
  if (wildcard && (!config.etcd.empty() || (!config.peers.empty() && !local_peer))) {
    return Status::InvalidArgument(fmt::format(
        "listening on {} names no address the other members can reach: give --advertise "
        "HOST:PORT (advertise: in the config)",
        listen));
  }
  SLUICE_ASSIGN_OR_RETURN(auto selves, placement::ParsePeers(id));
  placement::Member self = selves.front();
  std::unique_ptr<Cluster> c(new Cluster(std::move(config), self));
  if (!c->config_.etcd.empty()) {
    placement::EtcdOptions o;
    o.url = c->config_.etcd;
    o.cluster = c->config_.name;
    o.self = self;
    o.fingerprint = c->fingerprint_;
    o.lease_ttl = c->config_.lease_ttl;
    c->membership_ = std::make_unique<placement::EtcdMembership>(std::move(o));
  } else {
    std::vector<placement::Member> members;
    for (const auto& p : c->config_.peers) {
      SLUICE_ASSIGN_OR_RETURN(auto some, placement::ParsePeers(p));
      members.insert(members.end(), some.begin(), some.end());
    }
    if (std::none_of(members.begin(), members.end(),
                     [&](const auto& m) { return m.id == self.id; })) {
      members.push_back(self);
    }
    c->membership_ = std::make_unique<placement::StaticMembership>(std::move(members));
  }
  return c;
}

Status Cluster::Start() {
  SLUICE_RETURN_IF_ERROR(membership_->Start());
  if (placement() == nullptr) return Status::Internal("no placement after start");
  return Status::OK();
}

void Cluster::Stop() {
  if (membership_) membership_->Stop();
}

std::shared_ptr<const placement::Placement> Cluster::placement() {
  const uint64_t gen = membership_->Generation();
  std::unique_lock build(build_mu_, std::defer_lock);
  {
    std::lock_guard lock(mu_);
    if (placement_ != nullptr && gen == generation_) return placement_;
    // Another thread is building the new one (maglev: ~50 ms): the current one serves
    // meanwhile. (try_lock under mu_ never waits, so the order build_mu_ -> mu_ holds.)
    if (placement_ != nullptr && !build.try_lock()) return placement_;
  }
  if (!build.owns_lock()) build.lock();  // no placement yet: everyone waits for the first
  {
    std::lock_guard lock(mu_);
    if (placement_ != nullptr && gen <= generation_) return placement_;  // built meanwhile
  }
  auto members = membership_->Members();
  // Etcd may not list us yet (or any longer, after a lost lease): we still serve our share.
  if (std::none_of(members.begin(), members.end(),
                   [&](const auto& m) { return m.id == self_.id; })) {
    members.push_back(self_);
  }
  auto p = placement::Placement::Create(config_.ring, std::move(members));
  std::lock_guard lock(mu_);
  generation_ = gen;  // a failed build too: not tried (nor logged) again until it changes
  if (!p.ok()) {
    SLUICE_LOG_ERROR("cannot build the placement: {}", p.status().ToString());
    if (placement_ == nullptr) {
      placement_ = *placement::Placement::Create(config_.ring, {self_});
    }
    return placement_;
  }
  if (placement_ == nullptr || placement_->members() != (*p)->members()) {
    SLUICE_LOG_INFO("cluster: {} member(s), ring {} ({})", (*p)->members().size(),
                    config_.ring.policy, fingerprint_);
  }
  placement_ = *p;
  return placement_;
}

bool Cluster::Distributed() { return placement()->members().size() > 1; }

json Cluster::Json() {
  auto p = placement();
  json members = json::array();
  for (const auto& m : p->members()) members.push_back({{"id", m.id}, {"endpoint", m.endpoint}});
  return {{"self", self_.id},
          {"members", members},
          {"ring", placement::RingJson(config_.ring)},
          {"fingerprint", fingerprint_},
          {"membership", membership_->Kind()},
          {"cluster", config_.name}};
}

}  // namespace sluice::worker
