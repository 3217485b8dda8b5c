// ListingCache: under-store list pages cached per (mount, prefix, delimiter, token,
// start-after, max-keys) for a TTL, shared by the S3 API and the /v1 API. Invalidate(mount)
// drops a mount's pages after a write or delete through this worker; a listing that was in
// flight during an invalidation is returned but not kept.
//
// Thread-safety: thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "ufs/mount_table.h"

namespace sluice::worker {

class ListingCache {
 public:
  ListingCache(Duration ttl, size_t max_entries, Clock* clock = Clock::Real())
      : ttl_(ttl), max_entries_(max_entries), clock_(clock) {}

  // One page of `r.store`'s listing, from the cache when fresh.
  Result<ufs::ListPage> List(const ufs::Resolved& r, const ufs::ListOptions& o);
  void Invalidate(std::string_view mount);

 private:
  struct Entry {
    ufs::ListPage page;
    Clock::TimePoint expires;
  };
  const Duration ttl_;
  const size_t max_entries_;
  Clock* const clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mu_)
  // Bumped by every invalidation: a listing that started before one is not cached.
  std::atomic<uint64_t> generation_{0};
};

}  // namespace sluice::worker
