#include "client/chunk_cache.h"

namespace sluice::client {

ChunkCache::Key ChunkCache::MakeKey(const std::string& path, const std::string& version,
                                    uint64_t index) {
  Key k;
  k.reserve(path.size() + version.size() + 24);
  k.append(path).push_back('\0');
  k.append(version).push_back('\0');
  k.append(std::to_string(index));
  return k;
}

std::shared_ptr<const std::string> ChunkCache::Get(const std::string& path,
                                                   const std::string& version, uint64_t index) {
  Key k = MakeKey(path, version, index);
  std::lock_guard lock(mu_);
  auto it = entries_.find(k);
  if (it == entries_.end()) {
    misses_++;
    return nullptr;
  }
  hits_++;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.data;
}

void ChunkCache::Put(const std::string& path, const std::string& version, uint64_t index,
                     std::shared_ptr<const std::string> data) {
  if (data == nullptr || data->size() > capacity_) return;
  Key k = MakeKey(path, version, index);
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(k); it != entries_.end()) {
    bytes_ -= it->second.data->size();
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }
  bytes_ += data->size();
  lru_.push_front(k);
  entries_.emplace(std::move(k), Entry{std::move(data), lru_.begin()});
  while (bytes_ > capacity_ && !lru_.empty()) {
    auto victim = entries_.find(lru_.back());
    bytes_ -= victim->second.data->size();
    entries_.erase(victim);
    lru_.pop_back();
  }
}

uint64_t ChunkCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

uint64_t ChunkCache::misses() const {
  std::lock_guard lock(mu_);
  return misses_;
}

uint64_t ChunkCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace sluice::client
