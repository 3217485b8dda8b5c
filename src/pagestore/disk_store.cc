#include "pagestore/disk_store.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <thread>

#include "pagestore/stats_util.h"

namespace sluice::pagestore {

DiskStore::DiskStore(std::unique_ptr<GroupLedger> ledger,
                     std::vector<std::unique_ptr<CacheDir>> dirs)
    : ledger_(std::move(ledger)), dirs_(std::move(dirs)) {}

Result<std::unique_ptr<PageStore>> DiskStore::Open(const DiskStoreOptions& options) {
  if (options.dirs.empty()) return Status::InvalidArgument("disk store needs a cache directory");
  std::set<std::string> seen;
  auto ledger = std::make_unique<GroupLedger>();
  std::vector<std::unique_ptr<CacheDir>> dirs;
  for (const DiskDir& dir : options.dirs) {
    if (dir.path.empty()) return Status::InvalidArgument("empty cache directory path");
    if (dir.quota == 0) {
      return Status::InvalidArgument(fmt::format("cache directory {} has no quota", dir.path));
    }
    std::filesystem::path normal = std::filesystem::path(dir.path).lexically_normal();
    if (!normal.has_filename()) normal = normal.parent_path();  // "a/b/" is "a/b"
    if (!seen.insert(normal.string()).second) {
      return Status::InvalidArgument(fmt::format("cache directory {} listed twice", dir.path));
    }
    SLUICE_ASSIGN_OR_RETURN(auto policy, MakeEvictionPolicy(options.eviction, dir.quota));
    dirs.push_back(std::make_unique<CacheDir>(dir.path, dir.quota, std::move(policy), options.fsync,
                                              ledger.get()));
  }
  for (auto& dir : dirs) SLUICE_RETURN_IF_ERROR(dir->Lock());
  std::unique_ptr<DiskStore> store(new DiskStore(std::move(ledger), std::move(dirs)));

  // Recover every directory in parallel: each reads only its own page headers.
  std::vector<Status> results(store->dirs_.size());
  {
    std::vector<std::jthread> threads;
    for (size_t i = 0; i < store->dirs_.size(); ++i) {
      threads.emplace_back([&store, &results, i] {
        results[i] = store->dirs_[i]->Recover(
            [&store, i](const PageKey& key) { return store->DirIndexFor(key) == i; });
      });
    }
  }
  for (const Status& s : results) SLUICE_RETURN_IF_ERROR(s);
  return std::unique_ptr<PageStore>(std::move(store));
}

size_t DiskStore::DirIndexFor(const PageKey& key) const {
  if (dirs_.size() == 1) return 0;
  // Weighted rendezvous: the highest quota / -ln(u), u uniform in (0, 1) per (key, dir).
  size_t best = 0;
  double best_score = -1;
  for (size_t i = 0; i < dirs_.size(); ++i) {
    const uint64_t h = MixKey(key, dirs_[i]->id());
    const double u = (static_cast<double>(h >> 11) + 0.5) * 0x1p-53;
    const double score = static_cast<double>(dirs_[i]->quota()) / -std::log(u);
    if (score > best_score) {
      best_score = score;
      best = i;
    }
  }
  return best;
}

std::optional<size_t> DiskStore::Read(const PageKey& key, size_t offset, std::span<char> out) {
  return DirFor(key).Read(key, offset, out);
}

Status DiskStore::Put(const PageKey& key, std::string_view data, const PutOptions& options) {
  const size_t home = DirIndexFor(key);
  // A group at its quota with too few pages in `home`: evict its pages in the other
  // directories, one directory lock at a time.
  auto evict_elsewhere = [this, home](uint32_t group, uint64_t want) {
    uint64_t got = 0;
    for (size_t i = 0; i < dirs_.size() && got < want; ++i) {
      if (i != home) got += dirs_[i]->EvictGroup(group, want - got);
    }
    return got;
  };
  return dirs_[home]->Put(key, data, options, evict_elsewhere);
}

bool DiskStore::Contains(const PageKey& key) const { return DirFor(key).Contains(key); }

std::optional<size_t> DiskStore::PageSize(const PageKey& key) const {
  return DirFor(key).PageSize(key);
}

bool DiskStore::Remove(const PageKey& key) { return DirFor(key).Remove(key); }

size_t DiskStore::RemoveFile(const Hash128& file_id) {
  size_t n = 0;
  for (const auto& dir : dirs_) n += dir->RemoveFile(file_id);
  return n;
}

size_t DiskStore::SetPinned(const Hash128& file_id, bool pinned) {
  size_t n = 0;
  for (const auto& dir : dirs_) n += dir->SetPinned(file_id, pinned);
  return n;
}

void DiskStore::ForEachKey(const std::function<void(const PageKey&)>& fn) const {
  std::vector<PageKey> keys;
  for (const auto& dir : dirs_) {
    keys.clear();
    dir->CollectKeys(&keys);
    for (const PageKey& key : keys) fn(key);  // outside the lock: fn may call the store
  }
}

PageStoreStats DiskStore::GetStats() const {
  PageStoreStats total;
  for (const auto& dir : dirs_) Accumulate(dir->GetStats(), &total);
  return total;
}

void DiskStore::SetGroupQuota(uint32_t group, uint64_t bytes) {
  if (group == 0) return;  // the default group has no quota
  ledger_->Get(group)->quota.store(bytes, std::memory_order_relaxed);
  if (bytes == 0) return;
  for (const auto& dir : dirs_) dir->TrimGroup(group, bytes);
}

uint64_t DiskStore::GroupBytes(uint32_t group) const { return ledger_->Bytes(group); }

std::optional<uint32_t> DiskStore::PageGroup(const PageKey& key) const {
  return DirFor(key).PageGroup(key);
}

Result<std::unique_ptr<PageStore>> OpenDiskStore(const DiskStoreOptions& options) {
  return DiskStore::Open(options);
}

}  // namespace sluice::pagestore
