// FrequencySketch: an approximate, aging count of how often each key was requested
// recently (a count-min sketch of 4 rows of saturating 4-bit counters, as in TinyLFU).
// Every `sample_size` increments all counters are halved, so counts reflect roughly the
// last 10x-the-cache-size requests. Used by S3-FIFO to decide whether a key returning
// from the ghost queue is worth more than the page it would displace from main.
//
// Thread-safety: none; the owning policy is serialised by its store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice::pagestore {

class FrequencySketch {
 public:
  // Sizes the sketch for about `entries` distinct keys; grows (and forgets) as needed.
  void EnsureCapacity(uint64_t entries);
  void Increment(uint64_t hash);
  uint8_t Estimate(uint64_t hash) const;

 private:
  static constexpr int kRows = 4;
  size_t Slot(uint64_t hash, int row) const;
  void Halve();

  std::vector<uint8_t> counters_;  // kRows rows of width_ counters
  uint64_t width_ = 0;             // a power of two
  uint64_t additions_ = 0;
  uint64_t sample_size_ = 0;
};

}  // namespace sluice::pagestore
