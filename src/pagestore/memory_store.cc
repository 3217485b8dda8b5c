#include "pagestore/memory_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "pagestore/stats_util.h"

namespace sluice::pagestore {
namespace {

constexpr uint64_t kMinShardBytes = 64ULL << 20;  // >= 4x the largest page (16 MiB)
constexpr size_t kMaxShards = 16;
// Rounds of "evict the group's pages in other shards, then retry" before a Put whose
// group keeps refilling from other threads gives up.
constexpr int kQuotaAttempts = 4;

Status Refuse(PageStoreStats& stats, std::string message) {
  ++stats.admissions_refused;
  return Status::ResourceExhausted(std::move(message));
}

}  // namespace

Result<std::unique_ptr<PageStore>> MemoryStore::Make(const MemoryStoreOptions& options) {
  if (options.capacity == 0) return Status::InvalidArgument("memory store capacity must be > 0");
  const size_t n =
      static_cast<size_t>(std::clamp<uint64_t>(options.capacity / kMinShardBytes, 1, kMaxShards));
  auto ledger = std::make_unique<GroupLedger>();
  std::vector<std::unique_ptr<Shard>> shards;
  for (size_t i = 0; i < n; ++i) {
    auto shard = std::make_unique<Shard>(ledger.get());
    shard->capacity = options.capacity / n + (i < options.capacity % n ? 1 : 0);
    SLUICE_ASSIGN_OR_RETURN(shard->policy, MakeEvictionPolicy(options.eviction, shard->capacity));
    shards.push_back(std::move(shard));
  }
  return std::unique_ptr<PageStore>(new MemoryStore(std::move(ledger), std::move(shards)));
}

MemoryStore::Shard& MemoryStore::ShardFor(const PageKey& key) const {
  if (shards_.size() == 1) return *shards_[0];
  return *shards_[MixKey(key) % shards_.size()];
}

void MemoryStore::EraseLocked(Shard& shard, PageMap::iterator it, bool in_policy, bool charged,
                              std::vector<Buffer>* freed) {
  const uint64_t bytes = it->second.data->size();
  shard.groups.Remove(it->second.group, bytes, it->second.pinned, charged);
  if (it->second.pinned) {
    shard.pinned_bytes -= bytes;
    --shard.pinned_pages;
  } else if (in_policy) {
    shard.policy->OnRemove(it->first);
  }
  shard.bytes_used -= bytes;
  shard.files.Remove(it->first);
  freed->push_back(std::move(it->second.data));  // freed after the lock is released
  shard.pages.erase(it);
}

void MemoryStore::CountHit(Shard& shard, const PageKey& key, PageMap::iterator it,
                           uint64_t bytes) {
  ++shard.stats.hits;
  shard.stats.bytes_read += bytes;
  if (it != shard.pages.end() && !it->second.pinned) shard.policy->OnAccess(key);
}

MemoryStore::Buffer MemoryStore::Peek(const PageKey& key) const {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.pages.find(key);
  return it == shard.pages.end() ? nullptr : it->second.data;
}

std::optional<size_t> MemoryStore::Read(const PageKey& key, size_t offset, std::span<char> out) {
  Shard& shard = ShardFor(key);
  Buffer data;
  size_t n = 0;
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.pages.find(key);
    if (it == shard.pages.end()) {
      ++shard.stats.misses;
      return std::nullopt;
    }
    data = it->second.data;
    n = offset < data->size() ? std::min(out.size(), data->size() - offset) : 0;
    CountHit(shard, key, it, n);
  }
  if (n > 0) std::memcpy(out.data(), data->data() + offset, n);  // outside the lock
  return n;
}

std::vector<std::shared_ptr<const std::string>> MemoryStore::ShareIfInMemory(
    std::span<const PageKey> keys, std::span<const uint64_t> min_sizes,
    uint64_t bytes_wanted) {
  std::vector<Buffer> out;
  out.reserve(keys.size());
  if (keys.size() == 1) {  // the common case, under one lock: found, long enough, counted
    Shard& shard = ShardFor(keys[0]);
    std::lock_guard lock(shard.mu);
    auto it = shard.pages.find(keys[0]);
    if (it == shard.pages.end() || it->second.data->size() < min_sizes[0]) return {};
    CountHit(shard, keys[0], it, bytes_wanted);
    out.push_back(it->second.data);
    return out;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    Buffer b = Peek(keys[i]);
    if (!b || b->size() < min_sizes[i]) return {};
    out.push_back(std::move(b));
  }
  // All there: now count them, once each (a page replaced or evicted meanwhile is still
  // served from the buffer in hand, and the policy is not told of an access to it).
  for (size_t i = 0; i < keys.size(); ++i) {
    Shard& shard = ShardFor(keys[i]);
    std::lock_guard lock(shard.mu);
    auto it = shard.pages.find(keys[i]);
    if (it != shard.pages.end() && it->second.data != out[i]) it = shard.pages.end();
    CountHit(shard, keys[i], it, i == 0 ? bytes_wanted : 0);
  }
  return out;
}

Status MemoryStore::Put(const PageKey& key, std::string_view data, const PutOptions& options) {
  if (data.size() > ShardFor(key).capacity) return PutShared(key, nullptr, options, data.size());
  return PutShared(key, std::make_shared<const std::string>(data), options);  // copy unlocked
}

Status MemoryStore::PutShared(const PageKey& key, std::shared_ptr<const std::string> buffer,
                              const PutOptions& options) {
  const uint64_t size = buffer ? buffer->size() : 0;  // before the buffer is moved from
  return PutShared(key, std::move(buffer), options, size);
}

Status MemoryStore::PutShared(const PageKey& key, Buffer buffer, const PutOptions& options,
                              uint64_t size) {
  Shard& shard = ShardFor(key);
  if (size > shard.capacity) {
    std::lock_guard lock(shard.mu);
    return Refuse(shard.stats, fmt::format("page {} of {} bytes exceeds the memory capacity "
                                           "({} bytes per shard)",
                                           key.ToString(), size, shard.capacity));
  }
  for (int attempt = 1;; ++attempt) {
    uint64_t shortfall = 0;
    {
      std::vector<Buffer> freed;  // released after the lock
      std::lock_guard lock(shard.mu);
      Status s = PutLocked(shard, key, buffer, options, size, &shortfall, &freed);
      if (shortfall == 0) return s;
    }
    if (attempt == kQuotaAttempts || EvictGroupElsewhere(options.group, shortfall, &shard) == 0) {
      std::lock_guard lock(shard.mu);
      return Refuse(shard.stats,
                    fmt::format("no room for page {} in group {}: it is at its quota and "
                                "nothing of it is evictable",
                                key.ToString(), options.group));
    }
  }
}

Status MemoryStore::PutLocked(Shard& shard, const PageKey& key, Buffer& buffer,
                              const PutOptions& options, uint64_t size, uint64_t* shortfall,
                              std::vector<Buffer>* freed) {
  auto it = shard.pages.find(key);
  const bool held = it != shard.pages.end();
  const uint64_t old_bytes = held ? it->second.data->size() : 0;
  const bool old_pinned = held && it->second.pinned;
  const bool pinned = options.pinned || old_pinned;  // a re-put keeps a pin
  const uint64_t unevictable = shard.pinned_bytes - (old_pinned ? old_bytes : 0);
  if (unevictable + size > shard.capacity) {
    return Refuse(shard.stats, fmt::format("no room for page {}: {} of {} memory bytes are pinned",
                                           key.ToString(), unevictable, shard.capacity));
  }
  GroupState* group = shard.groups.State(options.group);
  const bool same_group = held && it->second.group.state == group;
  const uint64_t release = same_group ? old_bytes : 0;
  GroupReservation quota =
      shard.groups.Reserve(group, key, size, release, old_pinned ? release : 0);
  if (quota.outcome == GroupReservation::kRefused) {
    return Refuse(shard.stats,
                  fmt::format("page {} of {} bytes does not fit the quota of group {} ({} "
                              "bytes) beside the group's pinned pages",
                              key.ToString(), size, options.group, quota.quota));
  }
  if (quota.outcome == GroupReservation::kShortfall) {
    *shortfall = quota.shortfall;
    return Status::OK();
  }
  const bool full = shard.bytes_used - old_bytes - quota.victim_bytes + size > shard.capacity;
  if ((full || !held) && !shard.policy->ShouldAdmit(key, full)) {
    GroupQueues::Cancel(group, quota);
    return Refuse(shard.stats, fmt::format("memory tier full: eviction policy '{}' refused page {}",
                                           shard.policy->Name(), key.ToString()));
  }
  if (held) EraseLocked(shard, it, /*in_policy=*/true, /*charged=*/same_group, freed);
  for (const PageKey& victim : quota.victims) {
    auto vit = shard.pages.find(victim);  // queued, so held
    ++shard.stats.evictions;
    ++shard.stats.quota_evictions;
    shard.stats.bytes_evicted += vit->second.data->size();
    EraseLocked(shard, vit, /*in_policy=*/true, /*charged=*/true, freed);
  }
  while (shard.bytes_used + size > shard.capacity) {
    std::optional<PageKey> victim = shard.policy->Evict();
    if (!victim) {  // only a policy that admitted without room to evict gets here
      GroupQueues::Refund(group, size);
      return Refuse(shard.stats,
                    fmt::format("memory tier full: nothing evictable for page {}", key.ToString()));
    }
    auto vit = shard.pages.find(*victim);
    if (vit == shard.pages.end()) continue;  // defensive: policy and map disagree
    ++shard.stats.evictions;
    shard.stats.bytes_evicted += vit->second.data->size();
    EraseLocked(shard, vit, /*in_policy=*/false, /*charged=*/false, freed);
  }
  GroupSlot slot = shard.groups.Add(group, key, size, pinned, /*charged=*/true);
  shard.pages.emplace(key, Page{std::move(buffer), pinned, slot});
  shard.bytes_used += size;
  shard.files.Add(key);
  if (pinned) {
    shard.pinned_bytes += size;
    ++shard.pinned_pages;
  } else {
    shard.policy->OnInsert(key, size);
  }
  ++shard.stats.puts;
  shard.stats.bytes_written += size;
  return Status::OK();
}

uint64_t MemoryStore::EvictGroupLocked(Shard& shard, uint32_t group, uint64_t want,
                                       std::vector<Buffer>* freed) {
  GroupState* state = shard.groups.Find(group);
  uint64_t got = 0;
  while (state != nullptr && got < want && !state->queue.empty()) {
    auto it = shard.pages.find(state->queue.front().key);  // queued, so held
    const uint64_t bytes = it->second.data->size();
    ++shard.stats.evictions;
    ++shard.stats.quota_evictions;
    shard.stats.bytes_evicted += bytes;
    EraseLocked(shard, it, /*in_policy=*/true, /*charged=*/false, freed);
    got += bytes;
  }
  return got;
}

uint64_t MemoryStore::EvictGroupElsewhere(uint32_t group, uint64_t want, const Shard* except) {
  uint64_t got = 0;
  for (const auto& shard : shards_) {
    if (shard.get() == except || got >= want) continue;
    std::vector<Buffer> freed;
    std::lock_guard lock(shard->mu);
    got += EvictGroupLocked(*shard, group, want - got, &freed);
  }
  return got;
}

void MemoryStore::SetGroupQuota(uint32_t group, uint64_t bytes) {
  if (group == 0) return;  // the default group has no quota
  GroupAccount* account = ledger_->Get(group);
  account->quota.store(bytes, std::memory_order_relaxed);
  if (bytes == 0) return;
  for (const auto& shard : shards_) {  // trim to the new quota
    std::vector<Buffer> freed;
    std::lock_guard lock(shard->mu);
    const uint64_t held = account->bytes.load(std::memory_order_relaxed);
    if (held > bytes) EvictGroupLocked(*shard, group, held - bytes, &freed);
  }
}

uint64_t MemoryStore::GroupBytes(uint32_t group) const { return ledger_->Bytes(group); }

std::optional<uint32_t> MemoryStore::PageGroup(const PageKey& key) const {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.pages.find(key);
  if (it == shard.pages.end()) return std::nullopt;
  return it->second.group.state->id;
}

bool MemoryStore::Contains(const PageKey& key) const {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  return shard.pages.contains(key);
}

std::optional<size_t> MemoryStore::PageSize(const PageKey& key) const {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.pages.find(key);
  if (it == shard.pages.end()) return std::nullopt;
  return it->second.data->size();
}

bool MemoryStore::Remove(const PageKey& key) {
  Shard& shard = ShardFor(key);
  std::vector<Buffer> freed;
  std::lock_guard lock(shard.mu);
  auto it = shard.pages.find(key);
  if (it == shard.pages.end()) return false;
  EraseLocked(shard, it, /*in_policy=*/true, /*charged=*/false, &freed);
  return true;
}

size_t MemoryStore::RemoveFile(const Hash128& file_id) {
  size_t removed = 0;
  for (const auto& shard : shards_) {
    std::vector<Buffer> freed;
    std::lock_guard lock(shard->mu);
    for (uint64_t index : shard->files.Indices(file_id)) {
      auto it = shard->pages.find(PageKey{file_id, index});
      if (it == shard->pages.end()) continue;
      EraseLocked(*shard, it, /*in_policy=*/true, /*charged=*/false, &freed);
      ++removed;
    }
  }
  return removed;
}

size_t MemoryStore::SetPinned(const Hash128& file_id, bool pinned) {
  size_t changed = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    for (uint64_t index : shard->files.Indices(file_id)) {
      const PageKey key{file_id, index};
      auto it = shard->pages.find(key);
      if (it == shard->pages.end() || it->second.pinned == pinned) continue;
      const uint64_t bytes = it->second.data->size();
      it->second.pinned = pinned;
      shard->groups.SetPinned(&it->second.group, key, bytes, pinned);
      if (pinned) {
        shard->policy->OnRemove(key);
        shard->pinned_bytes += bytes;
        ++shard->pinned_pages;
      } else {
        shard->pinned_bytes -= bytes;
        --shard->pinned_pages;
        shard->policy->OnInsert(key, bytes);
      }
      ++changed;
    }
  }
  return changed;
}

std::vector<uint64_t> MemoryStore::PageIndices(const Hash128& file_id) const {
  std::vector<uint64_t> out;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    for (uint64_t index : shard->files.Indices(file_id)) out.push_back(index);
  }
  return out;
}

void MemoryStore::ForEachKey(const std::function<void(const PageKey&)>& fn) const {
  for (const auto& shard : shards_) {
    std::vector<PageKey> keys;
    {
      std::lock_guard lock(shard->mu);
      keys.reserve(shard->pages.size());
      for (const auto& [key, page] : shard->pages) keys.push_back(key);
    }
    for (const PageKey& key : keys) fn(key);  // outside the lock: fn may call the store
  }
}

PageStoreStats MemoryStore::GetStats() const {
  PageStoreStats total;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    PageStoreStats s = shard->stats;
    s.pages = shard->pages.size();
    s.bytes_used = shard->bytes_used;
    s.capacity = shard->capacity;
    s.pinned_pages = shard->pinned_pages;
    Accumulate(s, &total);
  }
  return total;
}

Result<std::unique_ptr<PageStore>> MakeMemoryStore(const MemoryStoreOptions& options) {
  return MemoryStore::Make(options);
}

}  // namespace sluice::pagestore
