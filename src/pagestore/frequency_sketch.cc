#include "pagestore/frequency_sketch.h"

#include <algorithm>
#include <bit>

namespace sluice::pagestore {
namespace {
constexpr uint8_t kMaxCount = 15;
constexpr uint64_t kMinWidth = 1024;
}  // namespace

void FrequencySketch::EnsureCapacity(uint64_t entries) {
  const uint64_t want = std::bit_ceil(std::max(kMinWidth, entries * 4));
  if (want <= width_) return;
  width_ = want;
  counters_.assign(kRows * width_, 0);
  additions_ = 0;
  sample_size_ = 10 * std::max<uint64_t>(entries, kMinWidth / 2);
}

size_t FrequencySketch::Slot(uint64_t hash, int row) const {
  const uint64_t a = hash & 0xffffffffULL;
  const uint64_t b = (hash >> 32) | 1;
  return static_cast<size_t>(row) * width_ + ((a + static_cast<uint64_t>(row) * b) & (width_ - 1));
}

void FrequencySketch::Increment(uint64_t hash) {
  if (width_ == 0) EnsureCapacity(kMinWidth / 2);
  for (int row = 0; row < kRows; ++row) {
    uint8_t& c = counters_[Slot(hash, row)];
    if (c < kMaxCount) ++c;
  }
  if (++additions_ >= sample_size_) Halve();
}

uint8_t FrequencySketch::Estimate(uint64_t hash) const {
  if (width_ == 0) return 0;
  uint8_t est = kMaxCount;
  for (int row = 0; row < kRows; ++row) est = std::min(est, counters_[Slot(hash, row)]);
  return est;
}

void FrequencySketch::Halve() {
  for (uint8_t& c : counters_) c >>= 1;
  additions_ /= 2;
}

}  // namespace sluice::pagestore
