#include "placement/placement.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/hash.h"
#include "placement/ring_internal.h"

namespace sluice::placement {

namespace internal {

bool IsPrime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

uint32_t ResolvedVirtualPoints(const RingSettings& settings) {
  if (settings.virtual_points != 0) return settings.virtual_points;
  if (settings.policy == "maglev") return kDefaultMaglevTableSize;
  if (settings.policy == "ketama") return kDefaultKetamaPoints;
  return 0;
}

}  // namespace internal

namespace {

constexpr int kMaxReplicas = 16;

Status CheckVirtualPoints(const RingSettings& s) {
  const uint32_t vp = s.virtual_points;
  if (vp == 0) return Status::OK();
  if (s.policy == "maglev" && (!internal::IsPrime(vp) || vp > internal::kMaxMaglevTableSize)) {
    return Status::InvalidArgument(
        fmt::format("placement: maglev virtual_points (table size) {} must be a prime <= {}", vp,
                    internal::kMaxMaglevTableSize));
  }
  if (s.policy == "ketama" && vp > internal::kMaxKetamaPoints) {
    return Status::InvalidArgument(fmt::format("placement: ketama virtual_points {} exceeds {}", vp,
                                               internal::kMaxKetamaPoints));
  }
  if (s.policy == "jump") {
    return Status::InvalidArgument("placement: jump takes no virtual_points (set 0)");
  }
  return Status::OK();
}

Status CheckReplicaCount(int replicas, std::string_view what) {
  if (replicas >= 1 && replicas <= kMaxReplicas) return Status::OK();
  return Status::InvalidArgument(
      fmt::format("placement: {} replicas {} not in [1, {}]", what, replicas, kMaxReplicas));
}

Status CheckRules(const std::vector<ReplicaRule>& rules) {
  std::vector<std::string_view> prefixes;
  for (const ReplicaRule& rule : rules) {
    if (rule.prefix.empty() || rule.prefix.front() != '/') {
      return Status::InvalidArgument("placement: replica rule prefix '" + rule.prefix +
                                     "' must start with '/'");
    }
    SLUICE_RETURN_IF_ERROR(CheckReplicaCount(rule.replicas, "rule '" + rule.prefix + "'"));
    prefixes.push_back(rule.prefix);
  }
  std::sort(prefixes.begin(), prefixes.end());
  auto dup = std::adjacent_find(prefixes.begin(), prefixes.end());
  if (dup != prefixes.end()) {
    return Status::InvalidArgument("placement: two replica rules for '" + std::string(*dup) + "'");
  }
  return Status::OK();
}

std::vector<ReplicaRule> SortedRules(std::vector<ReplicaRule> rules) {
  std::sort(rules.begin(), rules.end(),
            [](const ReplicaRule& a, const ReplicaRule& b) { return a.prefix < b.prefix; });
  return rules;
}

}  // namespace

Status RingSettings::Validate() const {
  if (policy != "maglev" && policy != "ketama" && policy != "jump") {
    return Status::InvalidArgument("placement: unknown ring policy '" + policy +
                                   "' (maglev, ketama or jump)");
  }
  SLUICE_RETURN_IF_ERROR(CheckVirtualPoints(*this));
  if (block_size < kMiB) {
    return Status::InvalidArgument(
        fmt::format("placement: block_size {} is below 1 MiB", block_size));
  }
  SLUICE_RETURN_IF_ERROR(CheckReplicaCount(replicas, "default"));
  return CheckRules(replica_rules);
}

// Canonical form, version-tagged: every string is length-prefixed so no prefix can forge
// a field separator.
std::string RingSettings::Fingerprint() const {
  std::string canonical =
      fmt::format("sluice-ring-v1;policy={}:{};points={};block={};replicas={}", policy.size(),
                  policy, internal::ResolvedVirtualPoints(*this), block_size, replicas);
  for (const ReplicaRule& rule : SortedRules(replica_rules)) {
    canonical += fmt::format(";rule={}:{}={}", rule.prefix.size(), rule.prefix, rule.replicas);
  }
  return fmt::format("{:016x}", Hash64(canonical));
}

Result<std::shared_ptr<const Placement>> Placement::Create(RingSettings settings,
                                                           std::vector<Member> members) {
  SLUICE_RETURN_IF_ERROR(settings.Validate());
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return a.id < b.id; });
  std::vector<std::string> ids;
  ids.reserve(members.size());
  for (const Member& m : members) ids.push_back(m.id);
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<HashRing> ring, MakeRing(settings, ids));

  std::shared_ptr<Placement> p(new Placement());
  settings.replica_rules = SortedRules(std::move(settings.replica_rules));
  p->fingerprint_ = settings.Fingerprint();
  p->settings_ = std::move(settings);
  p->members_ = std::move(members);
  p->ring_ = std::move(ring);
  return std::shared_ptr<const Placement>(std::move(p));
}

std::vector<const Member*> Placement::Owners(std::string_view path, uint64_t block,
                                             size_t extra) const {
  const size_t n = static_cast<size_t>(ReplicasFor(path)) + extra;
  std::vector<uint32_t> indexes;
  indexes.reserve(std::min(n, members_.size()));
  ring_->Owners(Hash64(BlockKey(path, block)), n, &indexes);
  std::vector<const Member*> owners;
  owners.reserve(indexes.size());
  for (uint32_t i : indexes) owners.push_back(&members_[i]);
  return owners;
}

std::string Placement::BlockKey(std::string_view path, uint64_t block) {
  if (block == 0) return std::string(path);
  return fmt::format("{}#{}", path, block);
}

int Placement::ReplicasFor(std::string_view path) const {
  int replicas = settings_.replicas;
  size_t longest = 0;
  for (const ReplicaRule& rule : settings_.replica_rules) {
    if (rule.prefix.size() > longest && path.starts_with(rule.prefix)) {
      longest = rule.prefix.size();
      replicas = rule.replicas;
    }
  }
  return replicas;
}

const Member* Placement::Find(std::string_view id) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), id,
                             [](const Member& m, std::string_view v) { return m.id < v; });
  return it != members_.end() && it->id == id ? &*it : nullptr;
}

}  // namespace sluice::placement
