// Membership: the live member list of a cluster, from a static list or from etcd.
//
// StaticMembership: the list it was given (`--peers`), never changes.
//
// EtcdMembership: through etcd's v3 JSON gateway (POST /v3/lease/grant, /v3/kv/put,
// /v3/lease/keepalive, /v3/kv/range; keys and values base64) via ufs::CurlClient.
//  - A worker (options.self set) grants a lease of `lease_ttl`, puts its key
//    `/sluice/<cluster>/workers/<id>` = {"id","endpoint","fingerprint"} with that lease,
//    and keeps the lease alive every lease_ttl / 3. A client (self unset) only reads.
//  - Everyone refreshes the member list by a ranged read of the prefix every
//    `refresh_interval`, so a join or a death is seen within lease_ttl + refresh_interval.
//  - When etcd is unreachable the last known list stays in force (readers keep being
//    served), and the worker re-registers (a new lease) once etcd answers again; a lease
//    that expired meanwhile is replaced, never reported as an error to callers.
//  - Start() fails (kUnavailable, naming the URL) if etcd cannot be reached at start.
//  - Members whose stored fingerprint differs from options.fingerprint (when both are
//    non-empty) are left out of the list and reported by Mismatched() and in the log.
//
// Thread-safety: all methods are thread-safe. Members() returns a snapshot.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/units.h"
#include "placement/placement.h"
#include "sluice/status.h"

namespace sluice::placement {

class Membership {
 public:
  virtual ~Membership() = default;
  virtual Status Start() = 0;
  virtual void Stop() = 0;
  // The live members, sorted by id.
  virtual std::vector<Member> Members() const = 0;
  // Incremented whenever Members() changes (starts at 1 after a successful Start).
  virtual uint64_t Generation() const = 0;
  // "static" or "etcd".
  virtual std::string Kind() const = 0;
};

class StaticMembership : public Membership {
 public:
  // REQUIRES: ids are unique (ParsePeers checks). Sorts them by id.
  explicit StaticMembership(std::vector<Member> members);
  Status Start() override { return Status::OK(); }
  void Stop() override {}
  std::vector<Member> Members() const override { return members_; }
  uint64_t Generation() const override { return 1; }
  std::string Kind() const override { return "static"; }

 private:
  std::vector<Member> members_;
};

// Parses "host:port,host:port" or "http://host:port,..." into members (id = host:port,
// endpoint = http://host:port), in the order given; blanks around entries are ignored,
// IPv6 hosts are written in brackets. kInvalidArgument for an empty list, an empty or
// malformed entry (no port, a port outside 1..65535, a path, another scheme) and an id
// listed twice.
Result<std::vector<Member>> ParsePeers(std::string_view spec);

struct EtcdOptions {
  std::string url;                  // "http://127.0.0.1:2379" (comma-separated: tried in turn)
  std::string cluster = "default";  // the key prefix is /sluice/<cluster>/workers/
  std::optional<Member> self;       // register this member (workers); unset for clients
  std::string fingerprint;          // RingSettings::Fingerprint() of this participant
  Duration lease_ttl = std::chrono::seconds(5);  // >= 1 s; etcd raises it to 2 s at least
  Duration refresh_interval = std::chrono::milliseconds(500);  // > 0
  Duration request_timeout = std::chrono::seconds(2);          // per request, > 0
};

class EtcdMembership : public Membership {
 public:
  explicit EtcdMembership(EtcdOptions options);
  ~EtcdMembership() override;
  // Registers (workers), reads the list once and starts the background thread.
  // kInvalidArgument for bad options, kUnavailable naming the URL when etcd cannot be
  // reached. May be called again after a failure, not after a success.
  Status Start() override;
  // Stops the thread and revokes the lease (best effort). Members() keeps the last list.
  // Idempotent; also run by the destructor.
  void Stop() override;
  std::vector<Member> Members() const override;
  uint64_t Generation() const override;
  std::string Kind() const override { return "etcd"; }
  // Ids of members registered with a different ring fingerprint.
  std::vector<std::string> Mismatched() const;
  // For clients (which have no ring settings of their own): the members registered with
  // `fingerprint` (or none), whatever options.fingerprint is; and the fingerprint most
  // members registered with ("" when none did).
  std::vector<Member> MembersWith(const std::string& fingerprint) const;
  std::string CommonFingerprint() const;
  // Whether etcd answered the last request (an error answer counts as an answer; a
  // connection failure, a timeout or a 5xx does not).
  bool Connected() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::placement
