// EvictionPolicy: decides which page leaves a full PageStore, and whether a new page
// may come in at all.
//
// The store tells the policy about every tracked page (insert, access, remove) and asks
// it for victims. Pinned pages are not tracked, so they can never be chosen.
// Policies:
//   s3fifo  S3-FIFO (Yang et al., SOSP'23): a small probationary FIFO, a main FIFO and
//           a ghost queue; one-hit wonders and scans leave through the small queue. Default.
//   lru     least recently used.
//   none    admit until full, then refuse new pages and evict nothing: the right policy
//           for shuffled epochs over a data set larger than the cache.
//
// Thread-safety: none; the owning store serialises calls under its lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "pagestore/page_store.h"

namespace sluice::pagestore {

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  virtual std::string_view Name() const = 0;

  // Whether a page not yet held may be admitted. `full` says the store has no room for
  // it without evicting.
  virtual bool ShouldAdmit(const PageKey& key, bool full) = 0;
  // A page of `bytes` was stored (after ShouldAdmit). REQUIRES: not tracked.
  virtual void OnInsert(const PageKey& key, uint64_t bytes) = 0;
  // A tracked page was read.
  virtual void OnAccess(const PageKey& key) = 0;
  // A tracked page left the store other than through Evict (removed, pinned). No-op if
  // untracked.
  virtual void OnRemove(const PageKey& key) = 0;
  // Chooses a victim and stops tracking it; nullopt when nothing can be evicted.
  virtual std::optional<PageKey> Evict() = 0;
  // Number of tracked pages.
  virtual size_t Size() const = 0;
};

// name: "s3fifo", "lru" or "none". capacity: the store's byte capacity (sizes queues).
Result<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(std::string_view name,
                                                           uint64_t capacity);

}  // namespace sluice::pagestore
