// S3FifoPolicy: S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction",
// SOSP'23), weighted by bytes.
//
//   small  a probationary FIFO holding ~10% of the tracked bytes; new keys enter here.
//   main   a FIFO with reinsertion (CLOCK-like): a page at the head with freq > 0 is
//          reinserted at the tail with freq - 1, otherwise evicted.
//   ghost  keys (no data) recently evicted from small, bounded to the main queue's byte
//          budget; a key found in ghost on insert goes straight to main.
// Each page has a 2-bit access frequency (capped at 3). Evict() takes from small while it
// holds >= 10% of the tracked bytes (pages with freq > 0 move to main, others leave and
// are remembered in ghost), otherwise from main. Every operation is O(1) amortised.
//
// Sluice's addition, the frequency gate (on by default): a key returning from ghost while
// main is full enters main only if a TinyLFU-style sketch says it was requested more often
// recently (before this request) than main's oldest page; otherwise it goes back on
// probation in small. Plain S3-FIFO lets every re-seen key displace a main page, which
// under shuffled epochs (every key re-seen once per epoch) churns main and loses about
// half of the achievable hits; with the gate main keeps a stable set (bench/hit_ratio.cc).
//
// Thread-safety: none (see EvictionPolicy).
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <unordered_map>

#include "pagestore/eviction_policy.h"
#include "pagestore/frequency_sketch.h"

namespace sluice::pagestore {

class S3FifoPolicy final : public EvictionPolicy {
 public:
  struct Options {
    double small_ratio = 0.10;  // share of the tracked bytes the small queue may hold
    uint8_t max_freq = 3;
    // Gate ghost hits into a full main queue by recent request frequency (see above).
    // false gives the paper's S3-FIFO.
    bool frequency_gate = true;
  };

  explicit S3FifoPolicy(uint64_t capacity) : S3FifoPolicy(capacity, Options{}) {}
  S3FifoPolicy(uint64_t capacity, const Options& options);

  std::string_view Name() const override { return "s3fifo"; }
  bool ShouldAdmit(const PageKey& /*key*/, bool /*full*/) override { return true; }
  void OnInsert(const PageKey& key, uint64_t bytes) override;
  void OnAccess(const PageKey& key) override;
  void OnRemove(const PageKey& key) override;
  std::optional<PageKey> Evict() override;
  size_t Size() const override { return entries_.size(); }

  // For tests and benchmarks.
  uint64_t small_bytes() const { return small_bytes_; }
  uint64_t main_bytes() const { return main_bytes_; }
  size_t ghost_size() const { return ghost_.size(); }

 private:
  using Queue = std::list<PageKey>;
  struct Entry {
    uint64_t bytes = 0;
    uint8_t freq = 0;
    bool in_main = false;
    Queue::iterator pos;
  };
  struct Ghost {
    uint64_t seq = 0;  // matches the ghost_fifo_ record that is still live
    uint64_t bytes = 0;
  };
  struct GhostRecord {
    PageKey key;
    uint64_t seq = 0;
    uint64_t bytes = 0;
  };

  // Whether a key returning from ghost, requested `seen` times recently before now, may
  // enter main (else it goes to small).
  bool AdmitToMain(uint8_t seen, uint64_t bytes);
  bool EvictFromSmall(PageKey* victim);  // true when a page left the cache
  bool EvictFromMain(PageKey* victim);
  void AddGhost(const PageKey& key, uint64_t bytes);
  void TrimGhost();

  const Options options_;
  const uint64_t capacity_;
  std::unordered_map<PageKey, Entry, PageKeyHash> entries_;
  Queue small_;  // front = oldest
  Queue main_;
  uint64_t small_bytes_ = 0;
  uint64_t main_bytes_ = 0;

  std::unordered_map<PageKey, Ghost, PageKeyHash> ghost_;
  std::deque<GhostRecord> ghost_fifo_;  // may hold stale records (seq mismatch)
  uint64_t ghost_bytes_ = 0;            // bytes of live ghost entries
  uint64_t ghost_seq_ = 0;

  FrequencySketch sketch_;  // requests seen (inserts and accesses), when frequency_gate
};

}  // namespace sluice::pagestore
