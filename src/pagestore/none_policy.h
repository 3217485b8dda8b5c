// NonePolicy: admits pages while the store has room, then refuses new pages and never
// evicts. Under shuffled epochs over a data set larger than the cache this keeps a fixed
// subset resident, which is optimal among policies that cannot see the future order.
// It tracks keys only so that Size() and OnRemove() keep their contracts.
//
// Thread-safety: none (see EvictionPolicy).
#pragma once

#include <unordered_set>

#include "pagestore/eviction_policy.h"

namespace sluice::pagestore {

class NonePolicy final : public EvictionPolicy {
 public:
  std::string_view Name() const override { return "none"; }
  bool ShouldAdmit(const PageKey& /*key*/, bool full) override { return !full; }
  void OnInsert(const PageKey& key, uint64_t /*bytes*/) override { keys_.insert(key); }
  void OnAccess(const PageKey& /*key*/) override {}
  void OnRemove(const PageKey& key) override { keys_.erase(key); }
  std::optional<PageKey> Evict() override { return std::nullopt; }
  size_t Size() const override { return keys_.size(); }

 private:
  std::unordered_set<PageKey, PageKeyHash> keys_;
};

}  // namespace sluice::pagestore
