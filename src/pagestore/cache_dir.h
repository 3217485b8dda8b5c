// CacheDir: the pages of one disk cache directory (one DiskDir of a disk store), with
// its own byte quota, eviction policy, index and lock. The disk store routes each key to
// exactly one CacheDir (see disk_store.h).
//
// Files and header format: docs/page_format.md and disk_format.h. Writes go to a temp
// file in the page's fan-out directory and are renamed into place (optionally fsync'd
// first), so a page file is either absent or complete. Recover() removes leftover temp files
// and recovers the index from page headers only (no data is read), then trims to the
// quota. Every Read verifies the whole page's data checksum; a bad or unreadable page is
// deleted and reported as a miss. Disk errors never abort: they count in io_errors and
// the page is treated as missing (Read) or the Put fails with a Status.
//
// Group quotas are store-wide (the disk store's GroupLedger); the directory queues its own
// pages of each group. A Put at its group's quota evicts the group's oldest pages here;
// when those are not enough it calls `evict_elsewhere` (without its lock held) to evict
// the group's pages in the other directories, then retries (so under concurrent puts of
// one group a refused Put may have evicted some of its pages elsewhere). Group membership
// is not written to disk: recovered pages belong to group 0. Lock order: mu_, then the
// ledger's lock (a leaf); never two directories' locks at once.
//
// Thread-safety: all methods except Lock and Recover are thread-safe. Metadata (index, policy,
// stats) is guarded by one mutex; file data is read and written outside it. A read that races with
// a replace or eviction sees either the old or the new complete file.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "pagestore/eviction_policy.h"
#include "pagestore/file_index.h"
#include "pagestore/group_quota.h"
#include "pagestore/page_store.h"

namespace sluice::pagestore {

class CacheDir {
 public:
  // Evicts up to `want` bytes of `group`'s pages in other directories; returns the bytes
  // freed. Called without this directory's lock held.
  using EvictElsewhere = std::function<uint64_t(uint32_t group, uint64_t want)>;

  // `ledger` is the store's, shared by its directories; it must outlive this one.
  CacheDir(std::string path, uint64_t quota, std::unique_ptr<EvictionPolicy> policy, bool fsync,
           GroupLedger* ledger);
  ~CacheDir();
  CacheDir(const CacheDir&) = delete;
  CacheDir& operator=(const CacheDir&) = delete;

  // Creates `<path>/sluice-pages`, takes an exclusive lock on it (one process per
  // directory) and reads or creates the directory's random placement id.
  // REQUIRES: called once, first.
  Status Lock();
  // Removes temp files and recovers valid pages from their headers; invalid pages and
  // pages for which `belongs(key)` is false (placed in another directory) are deleted.
  // REQUIRES: Lock() succeeded; called once, before any method below.
  Status Recover(const std::function<bool(const PageKey&)>& belongs);
  // The directory's placement id (valid after Lock()).
  uint64_t id() const { return id_; }
  const std::string& path() const { return path_; }
  uint64_t quota() const { return quota_; }

  std::optional<size_t> Read(const PageKey& key, size_t offset, std::span<char> out);
  Status Put(const PageKey& key, std::string_view data, const PutOptions& options,
             const EvictElsewhere& evict_elsewhere);
  bool Contains(const PageKey& key) const;
  std::optional<size_t> PageSize(const PageKey& key) const;
  bool Remove(const PageKey& key);
  size_t RemoveFile(const Hash128& file_id);
  size_t SetPinned(const Hash128& file_id, bool pinned);
  void CollectKeys(std::vector<PageKey>* keys) const;
  PageStoreStats GetStats() const;

  // Evicts `group`'s oldest unpinned pages here until `want` bytes are freed or none are
  // left; returns the bytes freed (counted as quota evictions).
  uint64_t EvictGroup(uint32_t group, uint64_t want);
  // Evicts `group`'s oldest unpinned pages here while the group holds more than `quota`
  // bytes in the whole store.
  void TrimGroup(uint32_t group, uint64_t quota);
  std::optional<uint32_t> PageGroup(const PageKey& key) const;

 private:
  struct Entry {
    uint64_t bytes = 0;
    uint64_t generation = 0;  // changes on every replace: detects races with Read
    bool pinned = false;
    GroupSlot group;
  };
  using Index = std::unordered_map<PageKey, Entry, PageKeyHash>;
  enum class ReadFailure { kIo, kTransient, kCorrupt };

  std::string PagesRoot() const;
  std::string SubdirPath(const Hash128& file_id) const;
  std::string PagePath(const PageKey& key) const;

  // Writes header + data to a new temp file; on failure nothing is left behind.
  Status WriteTemp(const PageKey& key, std::string_view data, std::string* tmp_path);
  // Quota, group quota, pin and policy checks for a Put. REQUIRES: mu_ held.
  Status CheckAdmissionLocked(const PageKey& key, uint64_t size, uint32_t group, bool ask_policy);
  // The locked half of a Put, once the page is written to `tmp`: evicts, renames `tmp` into
  // place and indexes the page. Sets *shortfall (and changes nothing, keeping `tmp`) when
  // the group's pages in other directories must be evicted first; otherwise `tmp` is gone
  // on return. REQUIRES: mu_ held.
  Status CommitLocked(const PageKey& key, uint64_t size, const PutOptions& options,
                      const std::string& tmp, uint64_t* shortfall);
  // Drops an entry from the index (and unlinks its file). `charged`: a group reservation
  // already took its bytes off. REQUIRES: mu_ held.
  void EraseLocked(Index::iterator it, bool in_policy, bool unlink_file, bool charged = false);
  // `charged`: the page's bytes are already reserved in its group. REQUIRES: mu_ held.
  void InsertLocked(const PageKey& key, uint64_t bytes, bool pinned, GroupState* group,
                    bool charged);
  uint64_t EvictGroupLocked(uint32_t group, uint64_t want);
  // Counts a failed Read and drops the page if it is still the version that was read.
  void FailRead(const PageKey& key, uint64_t generation, ReadFailure kind, const std::string& what);
  void CountIoErrorLocked(const std::string& what);

  const std::string path_;
  const uint64_t quota_;
  const bool fsync_;
  uint64_t id_ = 0;   // set by Lock, then const
  int lock_fd_ = -1;  // flock'd `sluice-pages/LOCK`, held for the store's lifetime
  std::atomic<uint64_t> temp_counter_{0};

  mutable std::mutex mu_;
  std::unique_ptr<EvictionPolicy> policy_;  // GUARDED_BY(mu_)
  Index index_;                             // GUARDED_BY(mu_)
  FileIndex files_;                         // GUARDED_BY(mu_)
  GroupQueues groups_;                      // GUARDED_BY(mu_)
  uint64_t bytes_used_ = 0;                 // GUARDED_BY(mu_)
  uint64_t pinned_bytes_ = 0;               // GUARDED_BY(mu_)
  uint64_t pinned_pages_ = 0;               // GUARDED_BY(mu_)
  uint64_t next_generation_ = 0;            // GUARDED_BY(mu_)
  PageStoreStats stats_;                    // GUARDED_BY(mu_); counters only
};

}  // namespace sluice::pagestore
