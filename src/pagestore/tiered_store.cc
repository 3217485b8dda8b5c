#include "pagestore/tiered_store.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/logging.h"
#include "pagestore/stats_util.h"

namespace sluice::pagestore {

std::optional<size_t> TieredStore::Read(const PageKey& key, size_t offset, std::span<char> out) {
  std::optional<size_t> n;
  if (memory_) n = memory_->Read(key, offset, out);
  if (!n && disk_) n = ReadFromDisk(key, offset, out);
  if (!n) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  bytes_read_.fetch_add(*n, std::memory_order_relaxed);
  return n;
}

std::vector<std::shared_ptr<const std::string>> TieredStore::ShareIfInMemory(
    std::span<const PageKey> keys, std::span<const uint64_t> min_sizes,
    uint64_t bytes_wanted) {
  if (!memory_) return {};
  auto pages = memory_->ShareIfInMemory(keys, min_sizes, bytes_wanted);
  if (!pages.empty()) {
    hits_.fetch_add(pages.size(), std::memory_order_relaxed);
    bytes_read_.fetch_add(bytes_wanted, std::memory_order_relaxed);
  }
  return pages;
}

std::optional<size_t> TieredStore::ReadFromDisk(const PageKey& key, size_t offset,
                                                std::span<char> out) {
  if (!memory_) return disk_->Read(key, offset, out);
  std::optional<size_t> size = disk_->PageSize(key);
  if (!size) return disk_->Read(key, offset, out);  // counts the miss in the disk tier
  // Read the whole page (straight into `out` when it covers it) so it can be promoted.
  std::vector<char> scratch;
  std::span<char> page = out.first(std::min(out.size(), *size));
  const bool direct = offset == 0 && out.size() >= *size;
  if (!direct) {
    scratch.resize(*size);
    page = scratch;
  }
  const std::optional<uint32_t> group = disk_->PageGroup(key);
  std::optional<size_t> got = disk_->Read(key, 0, page);
  if (!got) return std::nullopt;
  const std::string_view data(page.data(), *got);
  // Best effort: memory may refuse (policy, pins, group quota).
  (void)memory_->Put(key, data, {.group = group.value_or(0)});
  if (direct) return *got;
  const size_t n = offset < *got ? std::min(out.size(), *got - offset) : 0;
  if (n > 0) std::memcpy(out.data(), data.data() + offset, n);
  return n;
}

Status TieredStore::Put(const PageKey& key, std::string_view data, const PutOptions& options) {
  return PutImpl(key, data, nullptr, options);
}

Status TieredStore::PutShared(const PageKey& key, std::shared_ptr<const std::string> data,
                              const PutOptions& options) {
  std::string_view view = *data;
  return PutImpl(key, view, std::move(data), options);
}

Status TieredStore::PutImpl(const PageKey& key, std::string_view data,
                            std::shared_ptr<const std::string> shared, const PutOptions& options) {
  Status disk = disk_ ? disk_->Put(key, data, options) : Status::FailedPrecondition("no disk tier");
  // A page pinned on disk is kept there; its memory copy stays evictable, so pinned data
  // larger than the memory tier never fills it with pages nothing else may replace.
  PutOptions in_memory = options;
  if (disk.ok()) in_memory.pinned = false;
  Status mem = !memory_  ? Status::FailedPrecondition("no memory tier")
               : shared ? memory_->PutShared(key, std::move(shared), in_memory)
                        : memory_->Put(key, data, in_memory);
  if (!mem.ok() && !disk.ok()) return disk_ ? disk : mem;
  // A tier that refused may still hold an older version of the page: drop it, so the
  // two tiers never disagree about a key's bytes.
  if (!mem.ok() && memory_) memory_->Remove(key);
  if (!disk.ok() && disk_) {
    disk_->Remove(key);
    // Admission refusals (policy, quota, pins) are routine; anything else is a failing disk.
    const bool refused = disk.code() == StatusCode::kResourceExhausted &&
                         disk.message().find("refused") != std::string::npos;
    if (!refused) WarnDiskFailure(disk);
  }
  puts_.fetch_add(1, std::memory_order_relaxed);
  bytes_written_.fetch_add(data.size(), std::memory_order_relaxed);
  return Status::OK();
}

void TieredStore::WarnDiskFailure(const Status& status) {
  const uint64_t failures = disk_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_warn_ns_.load(std::memory_order_relaxed);
  const int64_t interval = std::chrono::nanoseconds(kWarnInterval).count();
  if (last != INT64_MIN && now - last < interval) return;
  if (!last_warn_ns_.compare_exchange_strong(last, now)) return;  // another thread warns
  disk_failures_.fetch_sub(failures, std::memory_order_relaxed);
  SLUICE_LOG_WARN("disk tier failing, keeping pages in memory only ({} failures): {}", failures,
                  status.ToString());
}

bool TieredStore::Contains(const PageKey& key) const {
  return (memory_ && memory_->Contains(key)) || (disk_ && disk_->Contains(key));
}

std::optional<size_t> TieredStore::PageSize(const PageKey& key) const {
  std::optional<size_t> size;
  if (memory_) size = memory_->PageSize(key);
  if (!size && disk_) size = disk_->PageSize(key);
  return size;
}

bool TieredStore::Remove(const PageKey& key) {
  const bool in_memory = memory_ && memory_->Remove(key);
  const bool on_disk = disk_ && disk_->Remove(key);
  return in_memory || on_disk;
}

size_t TieredStore::RemoveFile(const Hash128& file_id) {
  const size_t in_memory = memory_ ? memory_->RemoveFile(file_id) : 0;
  const size_t on_disk = disk_ ? disk_->RemoveFile(file_id) : 0;
  return std::max(in_memory, on_disk);
}

size_t TieredStore::SetPinned(const Hash128& file_id, bool pinned) {
  // With a disk tier pins live there (see PutImpl), except for pages the disk does not
  // hold (it refused or failed them): those are pinned in memory, or a pin would leave
  // them evictable. (Pinned per file: its pages also on disk are then pinned twice.)
  bool memory_only = false;
  if (pinned && disk_ && memory_) {
    for (uint64_t index : memory_->PageIndices(file_id)) {
      if (!disk_->Contains(PageKey{file_id, index})) {
        memory_only = true;
        break;
      }
    }
  }
  const size_t in_memory =
      memory_ && (!disk_ || !pinned || memory_only) ? memory_->SetPinned(file_id, pinned) : 0;
  const size_t on_disk = disk_ ? disk_->SetPinned(file_id, pinned) : 0;
  return std::max(in_memory, on_disk);
}

void TieredStore::ForEachKey(const std::function<void(const PageKey&)>& fn) const {
  if (disk_) disk_->ForEachKey(fn);
  if (memory_) {
    memory_->ForEachKey([&](const PageKey& key) {
      if (!disk_ || !disk_->Contains(key)) fn(key);
    });
  }
}

PageStoreStats TieredStore::GetStats() const {
  PageStoreStats total;
  if (memory_) Accumulate(memory_->GetStats(), &total);
  if (disk_) Accumulate(disk_->GetStats(), &total);
  total.hits = hits_.load(std::memory_order_relaxed);
  total.misses = misses_.load(std::memory_order_relaxed);
  total.bytes_read = bytes_read_.load(std::memory_order_relaxed);
  total.puts = puts_.load(std::memory_order_relaxed);
  total.bytes_written = bytes_written_.load(std::memory_order_relaxed);
  return total;
}

void TieredStore::SetGroupQuota(uint32_t group, uint64_t bytes) {
  if (memory_) memory_->SetGroupQuota(group, bytes);
  if (disk_) disk_->SetGroupQuota(group, bytes);
}

uint64_t TieredStore::GroupBytes(uint32_t group) const {
  const uint64_t in_memory = memory_ ? memory_->GroupBytes(group) : 0;
  const uint64_t on_disk = disk_ ? disk_->GroupBytes(group) : 0;
  return std::max(in_memory, on_disk);
}

std::optional<uint32_t> TieredStore::PageGroup(const PageKey& key) const {
  std::optional<uint32_t> group;
  if (memory_) group = memory_->PageGroup(key);
  if (!group && disk_) group = disk_->PageGroup(key);
  return group;
}

std::unique_ptr<PageStore> MakeTieredStore(std::unique_ptr<PageStore> memory,
                                           std::unique_ptr<PageStore> disk) {
  return std::make_unique<TieredStore>(std::move(memory), std::move(disk));
}

}  // namespace sluice::pagestore
