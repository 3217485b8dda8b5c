// TieredStore: memory in front of disk (see MakeTieredStore in page_store.h).
//
//   Read     memory, then disk; a disk hit is copied into memory (promotion).
//   Put      writes both tiers. The caller succeeds if either tier took the page: when
//            the disk fails or refuses, the page lives in memory only, and disk I/O
//            failures are logged as a warning at most once per kWarnInterval. A tier
//            that did not take the page drops any older copy of it.
//   Remove, RemoveFile, SetPinned    apply to both tiers; counts are the larger tier's
//            (the disk usually holds every page memory holds).
//   ForEachKey  the union of both tiers' keys.
//   Groups   SetGroupQuota applies to each tier; GroupBytes is the larger tier's (the disk
//            usually holds every page memory holds). A promoted page keeps its disk group
//            (group 0 for pages recovered after a restart).
//   Stats    hits, misses and bytes_read are counted here (a hit in either tier is one
//            hit; a miss in both is one miss); puts and bytes_written count successful
//            Put calls; every other field is the sum over the tiers (so pages, bytes_used
//            and capacity count a page held by both tiers twice).
//
// Either tier may be null (then the store is just the other one).
// Thread-safety: all methods are thread-safe; no lock is held across tiers.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "pagestore/page_store.h"

namespace sluice::pagestore {

class TieredStore final : public PageStore {
 public:
  static constexpr std::chrono::seconds kWarnInterval{30};

  TieredStore(std::unique_ptr<PageStore> memory, std::unique_ptr<PageStore> disk)
      : memory_(std::move(memory)), disk_(std::move(disk)) {}

  std::string_view Name() const override { return "tiered"; }
  std::optional<size_t> Read(const PageKey& key, size_t offset, std::span<char> out) override;
  Status PutShared(const PageKey& key, std::shared_ptr<const std::string> data,
                   const PutOptions& options) override;
  std::vector<std::shared_ptr<const std::string>> ShareIfInMemory(
      std::span<const PageKey> keys, std::span<const uint64_t> min_sizes,
      uint64_t bytes_wanted) override;
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
  Status PutImpl(const PageKey& key, std::string_view data,
                 std::shared_ptr<const std::string> shared, const PutOptions& options);
  std::optional<size_t> ReadFromDisk(const PageKey& key, size_t offset, std::span<char> out);
  void WarnDiskFailure(const Status& status);

  const std::unique_ptr<PageStore> memory_;  // may be null
  const std::unique_ptr<PageStore> disk_;    // may be null
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> puts_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> disk_failures_{0};        // since the last warning
  std::atomic<int64_t> last_warn_ns_{INT64_MIN};  // steady_clock; INT64_MIN: never
};

}  // namespace sluice::pagestore
