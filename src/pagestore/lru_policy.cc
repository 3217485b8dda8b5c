#include "pagestore/lru_policy.h"

namespace sluice::pagestore {

void LruPolicy::OnInsert(const PageKey& key, uint64_t /*bytes*/) {
  auto [it, inserted] = index_.try_emplace(key);
  if (!inserted) {  // contract violation; keep the structure consistent anyway
    order_.splice(order_.begin(), order_, it->second);
    return;
  }
  order_.push_front(key);
  it->second = order_.begin();
}

void LruPolicy::OnAccess(const PageKey& key) {
  auto it = index_.find(key);
  if (it != index_.end()) order_.splice(order_.begin(), order_, it->second);
}

void LruPolicy::OnRemove(const PageKey& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return;
  order_.erase(it->second);
  index_.erase(it);
}

std::optional<PageKey> LruPolicy::Evict() {
  if (order_.empty()) return std::nullopt;
  PageKey victim = order_.back();
  order_.pop_back();
  index_.erase(victim);
  return victim;
}

}  // namespace sluice::pagestore
