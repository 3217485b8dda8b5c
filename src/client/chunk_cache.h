// ChunkCache: the client's optional memory cache (ClientOptions::memory_cache), so a node
// that rereads data does not cross the network again. Holds 1 MiB chunks of objects keyed
// by (path, version, chunk index) — a new version never hits an old chunk — and evicts the
// least recently used when over capacity. The last chunk of an object may be short.
//
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sluice::client {

class ChunkCache {
 public:
  static constexpr uint64_t kChunk = 1 << 20;
  explicit ChunkCache(uint64_t capacity) : capacity_(capacity) {}

  std::shared_ptr<const std::string> Get(const std::string& path, const std::string& version,
                                         uint64_t index);
  void Put(const std::string& path, const std::string& version, uint64_t index,
           std::shared_ptr<const std::string> data);
  uint64_t bytes() const;
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  using Key = std::string;  // path \0 version \0 index
  static Key MakeKey(const std::string& path, const std::string& version, uint64_t index);
  struct Entry {
    std::shared_ptr<const std::string> data;
    std::list<Key>::iterator lru;
  };
  const uint64_t capacity_;
  mutable std::mutex mu_;
  std::list<Key> lru_;                      // front: most recent; GUARDED_BY(mu_)
  std::unordered_map<Key, Entry> entries_;  // GUARDED_BY(mu_)
  uint64_t bytes_ = 0;                      // GUARDED_BY(mu_)
  uint64_t hits_ = 0, misses_ = 0;          // GUARDED_BY(mu_)
};

}  // namespace sluice::client
