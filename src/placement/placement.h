// Placement: which workers own a namespace path (or one block of a large file).
//
// Every participant (client or worker) builds the same Placement from the same member
// list and RingSettings, so all of them name the same owners without asking anyone.
// The key of block 0 is the namespace path itself ("/mount/a/b"); block i > 0 of a file
// larger than `block_size` has the key "<path>#<i>", so one large file spreads over the
// cluster block by block. Owners are distinct members, primary first: the first
// ReplicasFor(path) of them are the replicas; any further ones (the `extra` argument)
// are the next members on the ring, the failover order.
//
// Ring policies behind one interface (HashRing): maglev (default; lookup table of
// `virtual_points` slots, a prime, default 1048573 rather than the paper's 65537 so that a
// join or a leave moves within 10% of the minimum 1/N of the keys up to ~90 members; see
// ring_internal.h), ketama (consistent hashing with `virtual_points` points per member,
// default 160) and jump (Lamping & Veach; members in id order: adding or removing the
// member last in id order moves the minimum, others move more, see docs/cluster.md).
//
// Thread-safety: RingSettings and HashRing are immutable once built; a Placement is an
// immutable snapshot shared (std::shared_ptr<const Placement>) by all threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/units.h"
#include "sluice/status.h"

namespace sluice::placement {

struct Member {
  std::string id;        // stable and unique in the cluster (default: "host:port")
  std::string endpoint;  // "http://host:port"
  bool operator==(const Member&) const = default;
};

// `replicas` copies for paths under `prefix` (a namespace path prefix, e.g. "/models/").
struct ReplicaRule {
  std::string prefix;
  int replicas = 1;
};

struct RingSettings {
  std::string policy = "maglev";  // maglev | ketama | jump
  uint32_t virtual_points = 0;    // 0: the policy's default (see the header comment)
  uint64_t block_size = 64 * kMiB;
  int replicas = 1;                        // default replica count
  std::vector<ReplicaRule> replica_rules;  // the longest matching prefix wins
  Status Validate() const;  // policy known, block_size >= 1 MiB, replicas in [1, 16], ...
  // A short stable digest (16 hex chars) of every field above in a canonical form (rules
  // sorted by prefix, defaults resolved): equal settings, equal fingerprints.
  std::string Fingerprint() const;
};

// One policy's ring over members 0..n-1 (indexes into the id list it was built from).
class HashRing {
 public:
  virtual ~HashRing() = default;
  // Appends up to `n` distinct member indexes that own `key_hash`, primary first
  // (fewer only when the ring has fewer members).
  virtual void Owners(uint64_t key_hash, size_t n, std::vector<uint32_t>* out) const = 0;
  virtual size_t size() const = 0;
};

// Builds the ring `settings.policy` names over `member_ids` (order matters only to jump;
// Placement passes them sorted). Errors: invalid settings, no members, empty or duplicate
// ids, more members than the maglev table has slots. Building the default maglev table
// takes ~50 ms; build rings off the request path.
Result<std::unique_ptr<HashRing>> MakeRing(const RingSettings& settings,
                                           const std::vector<std::string>& member_ids);

class Placement {
 public:
  // Sorts members by id. Errors as MakeRing, and invalid settings.
  static Result<std::shared_ptr<const Placement>> Create(RingSettings settings,
                                                         std::vector<Member> members);

  // The owners of block `block` of `path`: ReplicasFor(path) + extra distinct members
  // (capped at the cluster size), primary first.
  std::vector<const Member*> Owners(std::string_view path, uint64_t block = 0,
                                    size_t extra = 0) const;
  // The placement key of a block ("<path>" or "<path>#<block>") and its hash.
  static std::string BlockKey(std::string_view path, uint64_t block);
  uint64_t BlockOf(uint64_t offset) const { return offset / settings_.block_size; }
  int ReplicasFor(std::string_view path) const;
  // The member with this id, or nullptr.
  const Member* Find(std::string_view id) const;

  const std::vector<Member>& members() const { return members_; }
  const RingSettings& settings() const { return settings_; }
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  Placement() = default;
  RingSettings settings_;
  std::vector<Member> members_;
  std::unique_ptr<HashRing> ring_;
  std::string fingerprint_;
};

}  // namespace sluice::placement
