// FileIndex: which page indices of each file a store holds, so that whole-file
// operations (RemoveFile, SetPinned) touch only that file's pages.
//
// Thread-safety: none; the owning store guards it with the same lock as its page map.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "pagestore/page_store.h"

namespace sluice::pagestore {

struct FileIdHash {
  size_t operator()(const Hash128& h) const {
    return static_cast<size_t>(h.lo ^ (h.hi * 0x9e3779b97f4a7c15ULL));
  }
};

class FileIndex {
 public:
  void Add(const PageKey& key) { files_[key.file_id].insert(key.index); }
  void Remove(const PageKey& key) {
    auto it = files_.find(key.file_id);
    if (it == files_.end()) return;
    it->second.erase(key.index);
    if (it->second.empty()) files_.erase(it);
  }
  // The held page indices of `file_id` (a copy, so callers may remove while iterating).
  std::vector<uint64_t> Indices(const Hash128& file_id) const {
    auto it = files_.find(file_id);
    if (it == files_.end()) return {};
    return {it->second.begin(), it->second.end()};
  }

 private:
  std::unordered_map<Hash128, std::unordered_set<uint64_t>, FileIdHash> files_;
};

// A well-mixed 64-bit hash of a key (PageKeyHash is cheap but weak in its low bits),
// for choosing shards and directories.
inline uint64_t MixKey(const PageKey& key, uint64_t seed = 0) {
  uint64_t x = key.file_id.lo ^ (key.file_id.hi * 0x9e3779b97f4a7c15ULL) ^
               (key.index * 0xff51afd7ed558ccdULL) ^ seed;
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace sluice::pagestore
