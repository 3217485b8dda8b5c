#include "worker/metadata_cache.h"

#include <functional>

namespace sluice::worker {

MetadataCache::MetadataCache(Duration ttl, size_t max_entries, Clock* clock)
    : ttl_(ttl), max_per_shard_(std::max<size_t>(1, max_entries / kShards)), clock_(clock) {}

MetadataCache::Shard& MetadataCache::ShardFor(const std::string& uri) {
  return shards_[std::hash<std::string>{}(uri) % kShards];
}

std::optional<Result<ufs::ObjectInfo>> MetadataCache::Get(const std::string& uri) {
  Shard& s = ShardFor(uri);
  std::lock_guard lock(s.mu);
  auto it = s.map.find(uri);
  if (it == s.map.end()) {
    misses_++;
    return std::nullopt;
  }
  if (clock_->Now() >= it->second.expires) {  // kept as the last version known
    if (!it->second.expired && ttl_.count() > 0) expirations_++;
    it->second.expired = true;
    misses_++;
    return std::nullopt;
  }
  hits_++;
  if (!it->second.result.ok()) negative_hits_++;
  return it->second.result;
}

void MetadataCache::Put(const std::string& uri, const Result<ufs::ObjectInfo>& result) {
  if (!result.ok() && !result.status().Is(StatusCode::kNotFound)) return;
  // With no TTL only what LastKnown needs is kept: a negative entry would serve nothing.
  if (ttl_.count() <= 0 && !result.ok()) return;
  Shard& s = ShardFor(uri);
  std::lock_guard lock(s.mu);
  if (s.map.size() >= max_per_shard_) s.map.clear();
  s.map.insert_or_assign(uri, Entry{result, clock_->Now() + std::max(ttl_, Duration::zero())});
}

std::optional<ufs::ObjectInfo> MetadataCache::LastKnown(const std::string& uri) {
  Shard& s = ShardFor(uri);
  std::lock_guard lock(s.mu);
  auto it = s.map.find(uri);
  if (it == s.map.end() || !it->second.result.ok()) return std::nullopt;
  return *it->second.result;
}

void MetadataCache::Invalidate(const std::string& uri) {
  Shard& s = ShardFor(uri);
  std::lock_guard lock(s.mu);
  if (s.map.erase(uri)) invalidations_++;
}

std::vector<std::pair<std::string, std::string>> MetadataCache::InvalidatePrefix(
    const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> dropped;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    std::erase_if(s.map, [&](const auto& kv) {
      if (!kv.first.starts_with(prefix)) return false;
      invalidations_++;
      if (kv.second.result.ok()) dropped.emplace_back(kv.first, kv.second.result->Version());
      return true;
    });
  }
  return dropped;
}

MetadataCacheStats MetadataCache::GetStats() const {
  MetadataCacheStats st;
  st.hits = hits_;
  st.misses = misses_;
  st.negative_hits = negative_hits_;
  st.expirations = expirations_;
  st.invalidations = invalidations_;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    st.entries += s.map.size();
  }
  return st;
}

}  // namespace sluice::worker
