// Peers: what a worker asks of the other members, over pooled keep-alive connections,
// with X-Sluice-Hop, the ring fingerprint and the cluster token.
//  - As the BlockSource (object_stream.h): reads a block range from its owner with
//    GET /v1/read, bytes straight into the caller's buffer. An owner that cannot be reached
//    is skipped for a few seconds (the block is read here meanwhile).
//  - ListFrom: one page of a mount's listing, as another member's listing cache holds it
//    (GET /v1/list): the members of a load job list through one of them, so each page is
//    listed from the under store once (docs/load.md).
//  - BroadcastChange: after a write or delete through this worker, tells every other
//    member (POST /v1/invalidate, in the background, best effort) to drop its cached stat
//    of the path and its listings of the mount, so no member serves the old version or an
//    old listing for the rest of its metadata TTL.
//
// Thread-safety: thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "ufs/curl_client.h"
#include "worker/cluster.h"
#include "worker/object_stream.h"

namespace sluice::worker {

class Peers final : public BlockSource {
 public:
  Peers(Cluster* cluster, std::string token);
  uint64_t block_size() const override { return cluster_->config().ring.block_size; }
  std::optional<Result<size_t>> ReadRemote(std::string_view path, std::string_view version,
                                           uint64_t offset, std::span<char> out) override;
  uint64_t remote_reads() const { return remote_reads_.load(); }
  void BroadcastChange(const std::string& path);
  // One page of `mount`'s listing with options `o` (whose prefix is "" or ends with '/'),
  // listed by `member` for load job `job` (ListingCache's tag). kUnavailable when it cannot
  // be reached.
  Result<ufs::ListPage> ListFrom(const placement::Member& member, const std::string& mount,
                                 const ufs::ListOptions& o, const std::string& job);

  // A member that failed lately (here or in forwarding) is skipped until its back-off
  // ends.
  bool IsDown(const std::string& id);
  void MarkDown(const std::string& id, std::chrono::seconds how_long);

 private:
  // What every request to a member carries: the hop mark, the ring fingerprint, the token.
  std::vector<std::string> Headers() const;

  Cluster* cluster_;
  std::string token_;
  ufs::CurlClient http_;          // block reads
  ufs::CurlClient list_http_;     // load jobs' listing pages
  ufs::CurlClient control_http_;  // invalidations: short timeouts
  std::atomic<uint64_t> remote_reads_{0};
  ThreadPool broadcaster_{1};  // last member: drained before the rest is destroyed
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> down_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::worker
