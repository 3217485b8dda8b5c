// PageStore: fixed-size pages of cached objects, keyed by (file id, page index).
//
// The file id is derived from an object's under-store URI and its version (see
// MakeFileId), so pages of two versions of one object never share a key. A store holds
// at most `capacity` bytes of page data; when full it asks its EvictionPolicy for
// victims, never evicting pinned pages. A miss is an empty optional, not an error.
//
// Groups: every page belongs to one group (PutOptions::group; the worker uses one per
// mount). A group may have a byte quota (SetGroupQuota) that caps its share of the store:
// a Put that would take the group past it first evicts the group's own unpinned pages,
// oldest first (within each shard or directory; see the stores' headers), and never
// another group's; if even that cannot make room the Put is refused like one into a full
// store. Group 0 is the default group and has no quota.
//
// Implementations: the memory store, the disk store (one or more directories, each with
// a byte quota; checksummed, atomic writes, recovered after restart; see
// docs/page_format.md) and the tiered store (memory in front of disk).
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/hash.h"
#include "sluice/status.h"

namespace sluice::pagestore {

struct PageKey {
  Hash128 file_id;
  uint64_t index = 0;
  bool operator==(const PageKey&) const = default;
  auto operator<=>(const PageKey&) const = default;
  std::string ToString() const;  // "<file id hex>:<index>"
};

struct PageKeyHash {
  size_t operator()(const PageKey& k) const {
    return static_cast<size_t>(k.file_id.lo ^ (k.file_id.hi * 0x9e3779b97f4a7c15ULL) ^
                               (k.index * 0xff51afd7ed558ccdULL));
  }
};

// The file id of an object: a 128-bit hash of (uri, version, page size). The page size is
// in it because a page's index means nothing without it: pages a disk tier kept from a run
// with another page size are never looked up (they age out), never read at the wrong
// offsets.
Hash128 MakeFileId(std::string_view object_uri, std::string_view version, uint64_t page_size);

struct PutOptions {
  bool pinned = false;  // a pinned page is never evicted until unpinned
  uint32_t group = 0;   // the page's quota group (0: the default group, never capped)
};

struct PageStoreStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t bytes_read = 0;          // bytes returned by hits
  uint64_t puts = 0;                // pages admitted
  uint64_t bytes_written = 0;
  uint64_t evictions = 0;
  uint64_t bytes_evicted = 0;
  uint64_t admissions_refused = 0;  // Put refused (policy `none` full, page too big, all pinned,
                                    // group quota unreachable)
  uint64_t quota_evictions = 0;     // evictions to keep a group within its quota (also
                                    // counted in evictions and bytes_evicted)
  uint64_t checksum_failures = 0;   // pages dropped because their checksum did not match
  uint64_t io_errors = 0;           // disk errors (the page is treated as missing)
  uint64_t pages = 0;               // pages held now
  uint64_t bytes_used = 0;          // page bytes held now
  uint64_t capacity = 0;            // byte capacity
  uint64_t pinned_pages = 0;
};

class PageStore {
 public:
  virtual ~PageStore() = default;

  virtual std::string_view Name() const = 0;

  // Copies up to out.size() bytes of the page, starting at `offset` within it, into
  // `out`. Returns the number of bytes copied (0 if offset is at or past the page's
  // end), or nullopt on a miss. A page that fails its checksum is dropped and reported
  // as a miss.
  virtual std::optional<size_t> Read(const PageKey& key, size_t offset, std::span<char> out) = 0;

  // The pages themselves when every one of `keys` is held in memory with at least
  // `min_sizes[i]` bytes: references to their immutable buffers, in order, which the
  // caller may send from without copying and which stay valid after an eviction or a
  // replace. All or nothing: if any page is not in memory (or is shorter), returns an empty
  // vector and counts nothing (a page on disk is not a miss here: the caller falls back to
  // Read, which counts it then); otherwise one hit per page and `bytes_wanted` bytes read,
  // and the policy sees each access once. Never blocks on a disk, so it is safe on I/O
  // threads. REQUIRES: min_sizes.size() == keys.size(). Default: empty.
  virtual std::vector<std::shared_ptr<const std::string>> ShareIfInMemory(
      std::span<const PageKey> keys, std::span<const uint64_t> min_sizes,
      uint64_t bytes_wanted) {
    (void)keys, (void)min_sizes, (void)bytes_wanted;
    return {};
  }

  // Stores (or replaces) a page. Fails with kResourceExhausted when admission is
  // refused, kIoError when the medium fails; the store is unchanged on failure. The page
  // joins options.group (a replaced page leaves its old group); when that group has a
  // quota, the group's oldest unpinned pages are evicted first to keep it within it,
  // and the Put is refused when the page is larger than the quota or the group's pinned
  // pages leave no room for it.
  virtual Status Put(const PageKey& key, std::string_view data, const PutOptions& options = {}) = 0;

  // Put of a buffer the caller no longer changes: stores that keep pages in memory adopt
  // it without copying. Same contract as Put. Default: Put(*data).
  virtual Status PutShared(const PageKey& key, std::shared_ptr<const std::string> data,
                           const PutOptions& options = {}) {
    return Put(key, *data, options);
  }

  virtual bool Contains(const PageKey& key) const = 0;
  // Size in bytes of a held page.
  virtual std::optional<size_t> PageSize(const PageKey& key) const = 0;

  // Drops one page; returns whether it was held.
  virtual bool Remove(const PageKey& key) = 0;
  // Drops every page of a file; returns how many.
  virtual size_t RemoveFile(const Hash128& file_id) = 0;
  // Pins or unpins every held page of a file; returns how many changed.
  virtual size_t SetPinned(const Hash128& file_id, bool pinned) = 0;
  // Visits the keys of every held page (snapshot order, unspecified).
  virtual void ForEachKey(const std::function<void(const PageKey&)>& fn) const = 0;
  // The indices of the held pages of one file (unspecified order). The default visits
  // every key; stores with a per-file index answer in time proportional to the file.
  virtual std::vector<uint64_t> PageIndices(const Hash128& file_id) const {
    std::vector<uint64_t> out;
    ForEachKey([&](const PageKey& k) {
      if (k.file_id == file_id) out.push_back(k.index);
    });
    return out;
  }

  // Caps the page bytes held for `group` at `bytes` (0: no cap). Lowering a quota below
  // what the group holds evicts its oldest unpinned pages at once. Group 0 has no quota:
  // setting one is ignored. Every store in this library implements it; the defaults
  // (no quotas, nothing counted) are for test doubles.
  virtual void SetGroupQuota(uint32_t group, uint64_t bytes) { (void)group, (void)bytes; }
  // Page bytes held now for `group`.
  virtual uint64_t GroupBytes(uint32_t group) const {
    (void)group;
    return 0;
  }
  // The group of a held page, or nullopt on a miss.
  virtual std::optional<uint32_t> PageGroup(const PageKey& key) const {
    (void)key;
    return std::nullopt;
  }

  virtual PageStoreStats GetStats() const = 0;
};

struct MemoryStoreOptions {
  uint64_t capacity = 0;             // bytes
  std::string eviction = "s3fifo";   // s3fifo | lru | none
};

struct DiskDir {
  std::string path;
  uint64_t quota = 0;  // bytes of page data this directory may hold
};

struct DiskStoreOptions {
  std::vector<DiskDir> dirs;
  std::string eviction = "s3fifo";
  bool fsync = false;  // fsync page files before rename (durability vs. speed)
};

Result<std::unique_ptr<PageStore>> MakeMemoryStore(const MemoryStoreOptions& options);
// Opens (creating if needed) and recovers a disk store. Page groups are not stored on
// disk: recovered pages belong to group 0 until they are put again.
Result<std::unique_ptr<PageStore>> OpenDiskStore(const DiskStoreOptions& options);
// Memory in front of disk: reads try memory then disk (promoting hits); writes go to
// both. If the disk tier fails or is full, pages live in memory only (a warning is
// logged) rather than failing the caller. Either tier may be null. Group quotas apply to
// each tier; GroupBytes is the larger tier's.
std::unique_ptr<PageStore> MakeTieredStore(std::unique_ptr<PageStore> memory,
                                           std::unique_ptr<PageStore> disk);

}  // namespace sluice::pagestore
