// ListingCache: under-store list pages cached per (mount, prefix, delimiter, token,
// start-after, max-keys) for a TTL, shared by the S3 API, the /v1 API and load jobs.
// Concurrent requests for the same page make one under-store call (single flight).
// Invalidate(mount) drops a mount's pages after a write or delete through this worker; a
// listing that was in flight during an invalidation is returned to those already waiting
// but not kept, and later requests list anew.
//
// A page asked for with a tag (a load job's id) is cached under that tag only: the first
// request for it lists the store afresh, whatever untagged pages say, and the job's other
// requests share it for at least kTaggedTtl. The members of a load job read its listing
// through one member this way (docs/load.md), so each page is listed once per job. A job's
// pages are its snapshot: Invalidate leaves them, and a full cache drops expired and
// untagged pages before them.
//
// Thread-safety: thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "common/one_shot.h"
#include "ufs/mount_table.h"

namespace sluice::worker {

class ListingCache {
 public:
  ListingCache(Duration ttl, size_t max_entries, Clock* clock = Clock::Real())
      : ttl_(ttl), max_entries_(max_entries), clock_(clock) {}

  // One page of `r.store`'s listing, from the cache when fresh.
  Result<ufs::ListPage> List(const ufs::Resolved& r, const ufs::ListOptions& o,
                             std::string_view tag = "");
  static constexpr Duration kTaggedTtl = std::chrono::seconds(60);
  void Invalidate(std::string_view mount);

 private:
  struct Entry {
    ufs::ListPage page;
    Clock::TimePoint expires;
    bool tagged = false;
  };
  // Stores a page; when full, drops expired pages, then untagged ones, then all. REQUIRES: mu_
  void Keep(std::string key, const ufs::ListPage& page, Clock::TimePoint now, bool tagged);
  const Duration ttl_;
  const size_t max_entries_;
  Clock* const clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mu_)
  using Flight = OneShot<Result<ufs::ListPage>>;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;  // GUARDED_BY(mu_)
  // Bumped by every invalidation: a listing that started before one is not cached.
  std::atomic<uint64_t> generation_{0};
};

}  // namespace sluice::worker
