// CacheDir's group quota operations beyond Put: evicting a group's pages on behalf of a Put
// in another directory or a lowered quota.
#include "pagestore/cache_dir.h"

namespace sluice::pagestore {

uint64_t CacheDir::EvictGroupLocked(uint32_t group, uint64_t want) {
  GroupState* state = groups_.Find(group);
  uint64_t got = 0;
  while (state != nullptr && got < want && !state->queue.empty()) {
    auto it = index_.find(state->queue.front().key);  // queued, so held
    const uint64_t bytes = it->second.bytes;
    ++stats_.evictions;
    ++stats_.quota_evictions;
    stats_.bytes_evicted += bytes;
    EraseLocked(it, /*in_policy=*/true, /*unlink_file=*/true);
    got += bytes;
  }
  return got;
}

uint64_t CacheDir::EvictGroup(uint32_t group, uint64_t want) {
  std::lock_guard lock(mu_);
  return EvictGroupLocked(group, want);
}

void CacheDir::TrimGroup(uint32_t group, uint64_t quota) {
  std::lock_guard lock(mu_);
  GroupState* state = groups_.Find(group);
  if (state == nullptr) return;
  const uint64_t held = state->account->bytes.load(std::memory_order_relaxed);
  if (held > quota) EvictGroupLocked(group, held - quota);
}

std::optional<uint32_t> CacheDir::PageGroup(const PageKey& key) const {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  return it->second.group.state->id;
}

}  // namespace sluice::pagestore
