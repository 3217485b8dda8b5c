// DiskStore: the disk tier, a PageStore over one or more cache directories (CacheDir),
// each with its own byte quota, eviction policy and lock.
//
// A page lives in exactly one directory, chosen by weighted rendezvous hashing of its key
// against each directory's random placement id (stored in the directory), with weights
// proportional to the quotas. Placement is therefore stable across restarts, renames and
// reorderings of directories, and adding or removing a directory moves only the pages it
// gains or loses; recovered pages that now belong elsewhere are deleted.
//
// Group quotas apply to the whole store (see cache_dir.h). Groups are not written to disk:
// pages recovered after a restart belong to group 0 until they are put again.
//
// Thread-safety: all methods are thread-safe; operations on different directories never
// contend.
#pragma once

#include <memory>
#include <vector>

#include "pagestore/cache_dir.h"
#include "pagestore/page_store.h"

namespace sluice::pagestore {

class DiskStore final : public PageStore {
 public:
  // Validates options, locks and recovers every directory (in parallel).
  static Result<std::unique_ptr<PageStore>> Open(const DiskStoreOptions& options);

  std::string_view Name() const override { return "disk"; }
  std::optional<size_t> Read(const PageKey& key, size_t offset, std::span<char> out) override;
  Status Put(const PageKey& key, std::string_view data, const PutOptions& options) override;
  bool Contains(const PageKey& key) const override;
  std::optional<size_t> PageSize(const PageKey& key) const override;
  bool Remove(const PageKey& key) override;
  size_t RemoveFile(const Hash128& file_id) override;
  size_t SetPinned(const Hash128& file_id, bool pinned) override;
  void ForEachKey(const std::function<void(const PageKey&)>& fn) const override;
  PageStoreStats GetStats() const override;
  void SetGroupQuota(uint32_t group, uint64_t bytes) override;
  uint64_t GroupBytes(uint32_t group) const override;
  std::optional<uint32_t> PageGroup(const PageKey& key) const override;

 private:
  DiskStore(std::unique_ptr<GroupLedger> ledger, std::vector<std::unique_ptr<CacheDir>> dirs);
  size_t DirIndexFor(const PageKey& key) const;
  CacheDir& DirFor(const PageKey& key) const { return *dirs_[DirIndexFor(key)]; }

  const std::unique_ptr<GroupLedger> ledger_;  // shared by the directories; outlives them
  const std::vector<std::unique_ptr<CacheDir>> dirs_;
};

}  // namespace sluice::pagestore
