// LruPolicy: evicts the least recently used page. Every operation is O(1): a list in
// recency order (front = most recent) plus a hash map from key to list position.
//
// Thread-safety: none (see EvictionPolicy).
#pragma once

#include <list>
#include <unordered_map>

#include "pagestore/eviction_policy.h"

namespace sluice::pagestore {

class LruPolicy final : public EvictionPolicy {
 public:
  std::string_view Name() const override { return "lru"; }
  bool ShouldAdmit(const PageKey& /*key*/, bool /*full*/) override { return true; }
  void OnInsert(const PageKey& key, uint64_t bytes) override;
  void OnAccess(const PageKey& key) override;
  void OnRemove(const PageKey& key) override;
  std::optional<PageKey> Evict() override;
  size_t Size() const override { return index_.size(); }

 private:
  std::list<PageKey> order_;  // front = most recently used
  std::unordered_map<PageKey, std::list<PageKey>::iterator, PageKeyHash> index_;
};

}  // namespace sluice::pagestore
