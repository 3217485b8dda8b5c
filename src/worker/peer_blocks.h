// PeerBlocks: the worker's BlockSource (object_stream.h). Reads a block range from its
// owner with GET /v1/read (X-Sluice-Hop, the ring fingerprint and the cluster token), bytes
// straight into the caller's buffer, over pooled keep-alive connections. An owner that
// cannot be reached is skipped for a few seconds (the block is read here meanwhile).
//
// Thread-safety: thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "ufs/curl_client.h"
#include "worker/cluster.h"
#include "worker/object_stream.h"

namespace sluice::worker {

class PeerBlocks final : public BlockSource {
 public:
  PeerBlocks(Cluster* cluster, std::string token);
  uint64_t block_size() const override { return cluster_->config().ring.block_size; }
  std::optional<Result<size_t>> ReadRemote(std::string_view path, std::string_view version,
                                           uint64_t offset, std::span<char> out) override;
  uint64_t remote_reads() const { return remote_reads_.load(); }

 private:
  Cluster* cluster_;
  std::string token_;
  ufs::CurlClient http_;
  std::atomic<uint64_t> remote_reads_{0};
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> down_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::worker
