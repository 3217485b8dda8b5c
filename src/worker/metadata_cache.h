// MetadataCache: stat results of under-store objects, cached with a TTL, including
// negative entries (kNotFound) so a missing object does not hit the store on every
// lookup. Keyed by object URI. Bounded: when it holds more than `max_entries`, a shard
// is cleared (cheap, and entries are re-fetched on demand).
//
// An expired entry is not served (Get misses) but is kept, until replaced, invalidated or
// its shard cleared, as the last version known (LastKnown): pages cached for that version
// may still be current, which one stat (no bytes) can tell. With a TTL of 0 every entry
// is stored already expired, for that use alone.
//
// Thread-safety: all methods are thread-safe (sharded mutexes).
#pragma once

#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/units.h"
#include "ufs/under_store.h"

namespace sluice::worker {

struct MetadataCacheStats {
  uint64_t hits = 0, misses = 0, negative_hits = 0, expirations = 0, invalidations = 0;
  uint64_t entries = 0;
};

class MetadataCache {
 public:
  MetadataCache(Duration ttl, size_t max_entries, Clock* clock);

  // The cached result for `uri` if present and fresh: an ObjectInfo, or a kNotFound
  // status for a negative entry. nullopt on a miss or an expired entry.
  std::optional<Result<ufs::ObjectInfo>> Get(const std::string& uri);
  // Caches an ObjectInfo, or a kNotFound (other errors are not cached).
  void Put(const std::string& uri, const Result<ufs::ObjectInfo>& result);
  // The ObjectInfo last cached for `uri`, fresh or expired; nullopt when none is (or the
  // entry is negative). Counts neither a hit nor a miss.
  std::optional<ufs::ObjectInfo> LastKnown(const std::string& uri);
  void Invalidate(const std::string& uri);
  // Drops every entry whose URI starts with `prefix`; returns the URI and version of each
  // ObjectInfo dropped (fresh or expired; not the negative entries).
  std::vector<std::pair<std::string, std::string>> InvalidatePrefix(const std::string& prefix);

  MetadataCacheStats GetStats() const;

 private:
  struct Entry {
    Result<ufs::ObjectInfo> result;
    Clock::TimePoint expires;
    bool expired = false;  // seen expired (counted once in expirations)
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry> map;  // GUARDED_BY(mu)
  };
  static constexpr size_t kShards = 16;
  Shard& ShardFor(const std::string& uri);

  const Duration ttl_;
  const size_t max_per_shard_;
  Clock* const clock_;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, negative_hits_{0}, expirations_{0}, invalidations_{0};
};

}  // namespace sluice::worker
