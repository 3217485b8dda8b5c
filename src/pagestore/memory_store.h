// MemoryStore: the memory tier. Pages are immutable shared buffers in a hash map, split
// into shards by key; each shard has its own lock, eviction policy and an equal part of
// the byte capacity (one shard below 128 MiB, so small stores behave exactly; at most 16).
// A page never exceeds its shard's capacity (>= 64 MiB in sharded stores, the whole
// capacity otherwise).
//
// A hit holds the shard lock only to find the page and take a reference; the copy into
// the caller's buffer happens outside the lock, so a concurrent replace or eviction
// never tears a read. Pinned pages are invisible to the policy, so they are never
// evicted; a per-file index makes RemoveFile and SetPinned proportional to the file.
//
// Group quotas are store-wide (GroupLedger); each shard queues its own pages of each group.
// A Put at its group's quota evicts the group's oldest pages in its own shard, and only
// when those are not enough does it release the shard lock and evict the group's oldest
// pages in the other shards (one shard lock at a time), then retry. So a refused Put
// changes nothing, except that under concurrent puts of one group it may have evicted
// some of that group's pages in other shards. Lock order: a shard's lock, then the
// ledger's lock (a leaf); never two shards' locks at once.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "pagestore/eviction_policy.h"
#include "pagestore/file_index.h"
#include "pagestore/group_quota.h"
#include "pagestore/page_store.h"

namespace sluice::pagestore {

class MemoryStore final : public PageStore {
 public:
  static Result<std::unique_ptr<PageStore>> Make(const MemoryStoreOptions& options);

  std::string_view Name() const override { return "memory"; }
  std::optional<size_t> Read(const PageKey& key, size_t offset, std::span<char> out) override;
  std::vector<std::shared_ptr<const std::string>> ShareIfInMemory(
      std::span<const PageKey> keys, std::span<const uint64_t> min_sizes,
      uint64_t bytes_wanted) override;
  Status Put(const PageKey& key, std::string_view data, const PutOptions& options) override;
  Status PutShared(const PageKey& key, std::shared_ptr<const std::string> data,
                   const PutOptions& options) override;
  bool Contains(const PageKey& key) const override;
  std::optional<size_t> PageSize(const PageKey& key) const override;
  bool Remove(const PageKey& key) override;
  size_t RemoveFile(const Hash128& file_id) override;
  size_t SetPinned(const Hash128& file_id, bool pinned) override;
  void ForEachKey(const std::function<void(const PageKey&)>& fn) const override;
  std::vector<uint64_t> PageIndices(const Hash128& file_id) const override;
  PageStoreStats GetStats() const override;
  void SetGroupQuota(uint32_t group, uint64_t bytes) override;
  uint64_t GroupBytes(uint32_t group) const override;
  std::optional<uint32_t> PageGroup(const PageKey& key) const override;

 private:
  using Buffer = std::shared_ptr<const std::string>;
  struct Page {
    Buffer data;
    bool pinned = false;
    GroupSlot group;
  };
  struct Shard {
    explicit Shard(GroupLedger* ledger) : groups(ledger) {}
    mutable std::mutex mu;
    uint64_t capacity = 0;                                 // const after Make
    std::unique_ptr<EvictionPolicy> policy;                // GUARDED_BY(mu)
    std::unordered_map<PageKey, Page, PageKeyHash> pages;  // GUARDED_BY(mu)
    FileIndex files;                                       // GUARDED_BY(mu)
    GroupQueues groups;                                    // GUARDED_BY(mu)
    uint64_t bytes_used = 0;                               // GUARDED_BY(mu)
    uint64_t pinned_bytes = 0;                             // GUARDED_BY(mu)
    uint64_t pinned_pages = 0;                             // GUARDED_BY(mu)
    PageStoreStats stats;  // GUARDED_BY(mu); counters only, gauges are computed
  };

  using PageMap = std::unordered_map<PageKey, Page, PageKeyHash>;

  // `size` is the page's size (buffer may be null when the page is refused as too big).
  Status PutShared(const PageKey& key, Buffer buffer, const PutOptions& options, uint64_t size);
  // One attempt at a Put. Sets *shortfall (and changes nothing) when the group's pages
  // in other shards must be evicted first. Moves from `buffer` only on success.
  // REQUIRES: shard.mu held.
  static Status PutLocked(Shard& shard, const PageKey& key, Buffer& buffer,
                          const PutOptions& options, uint64_t size, uint64_t* shortfall,
                          std::vector<Buffer>* freed);
  MemoryStore(std::unique_ptr<GroupLedger> ledger, std::vector<std::unique_ptr<Shard>> shards)
      : ledger_(std::move(ledger)), shards_(std::move(shards)) {}

  Shard& ShardFor(const PageKey& key) const;
  // The page's buffer, or nullptr; counts nothing, tells the policy nothing.
  Buffer Peek(const PageKey& key) const;
  // Counts a hit of `bytes` bytes read in `shard`; the policy sees an access to the page
  // `it` points to (none when it is pages.end()). REQUIRES: shard.mu held.
  static void CountHit(Shard& shard, const PageKey& key, PageMap::iterator it, uint64_t bytes);
  // Drops a held page. `in_policy`: the policy still tracks it (not a policy victim).
  // `charged`: a group reservation already took its bytes off. REQUIRES: shard.mu held.
  // `it` is invalidated.
  static void EraseLocked(Shard& shard, PageMap::iterator it, bool in_policy, bool charged,
                          std::vector<Buffer>* freed);
  // Evicts `group`'s oldest unpinned pages in `shard` until `want` bytes are freed or none
  // are left; returns the bytes freed. REQUIRES: shard.mu held.
  static uint64_t EvictGroupLocked(Shard& shard, uint32_t group, uint64_t want,
                                   std::vector<Buffer>* freed);
  // EvictGroupLocked over the shards other than `except`, one lock at a time.
  uint64_t EvictGroupElsewhere(uint32_t group, uint64_t want, const Shard* except);

  const std::unique_ptr<GroupLedger> ledger_;  // outlives the shards' queues
  const std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace sluice::pagestore
