#include "pagestore/s3fifo_policy.h"

#include <algorithm>

#include "pagestore/file_index.h"

namespace sluice::pagestore {

S3FifoPolicy::S3FifoPolicy(uint64_t capacity, const Options& options)
    : options_(options), capacity_(capacity) {}

void S3FifoPolicy::OnInsert(const PageKey& key, uint64_t bytes) {
  auto [it, inserted] = entries_.try_emplace(key);
  if (!inserted) return;  // contract violation: already tracked
  Entry& e = it->second;
  e.bytes = bytes;
  // The key's past requests, not counting this one (which its rival cannot have had).
  uint8_t seen = 0;
  if (options_.frequency_gate) {
    sketch_.EnsureCapacity(entries_.size());
    seen = sketch_.Estimate(MixKey(key));
    sketch_.Increment(MixKey(key));
  }
  bool from_ghost = false;
  if (auto ghost = ghost_.find(key); ghost != ghost_.end()) {
    ghost_bytes_ -= ghost->second.bytes;
    ghost_.erase(ghost);  // its fifo record becomes stale
    from_ghost = true;
  }
  if (from_ghost && AdmitToMain(seen, bytes)) {
    e.in_main = true;
    e.pos = main_.insert(main_.end(), key);
    main_bytes_ += bytes;
  } else {
    e.pos = small_.insert(small_.end(), key);
    small_bytes_ += bytes;
  }
}

bool S3FifoPolicy::AdmitToMain(uint8_t seen, uint64_t bytes) {
  if (!options_.frequency_gate || main_.empty()) return true;
  const auto main_budget =
      static_cast<uint64_t>(static_cast<double>(capacity_) * (1.0 - options_.small_ratio));
  if (main_bytes_ + bytes <= main_budget) return true;  // room: no one is displaced
  // Main is full, so this page would push out main's oldest page. Only let it when it was
  // requested more often recently; on a tie (e.g. every page once per shuffled epoch)
  // main keeps what it has and the newcomer goes back on probation.
  return seen > sketch_.Estimate(MixKey(main_.front()));
}

void S3FifoPolicy::OnAccess(const PageKey& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (options_.frequency_gate) sketch_.Increment(MixKey(key));
  uint8_t& f = it->second.freq;
  if (f < options_.max_freq) ++f;
}

void S3FifoPolicy::OnRemove(const PageKey& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.in_main) {
    main_.erase(e.pos);
    main_bytes_ -= e.bytes;
  } else {
    small_.erase(e.pos);
    small_bytes_ -= e.bytes;
  }
  entries_.erase(it);
}

std::optional<PageKey> S3FifoPolicy::Evict() {
  PageKey victim;
  // Each pass either evicts, moves a page from small to main, or lowers a main page's
  // frequency, so the loop ends within O(pages * max_freq) steps; amortised O(1).
  while (!entries_.empty()) {
    const uint64_t tracked = small_bytes_ + main_bytes_;
    const bool from_small =
        !small_.empty() &&
        (main_.empty() || static_cast<double>(small_bytes_) >= options_.small_ratio * tracked);
    if (from_small ? EvictFromSmall(&victim) : EvictFromMain(&victim)) return victim;
  }
  return std::nullopt;
}

bool S3FifoPolicy::EvictFromSmall(PageKey* victim) {
  PageKey key = small_.front();
  auto it = entries_.find(key);
  Entry& e = it->second;
  small_.pop_front();
  small_bytes_ -= e.bytes;
  if (e.freq > 0) {  // seen again while on probation: promote
    e.freq = 0;
    e.in_main = true;
    e.pos = main_.insert(main_.end(), key);
    main_bytes_ += e.bytes;
    return false;
  }
  const uint64_t bytes = e.bytes;
  entries_.erase(it);
  AddGhost(key, bytes);
  *victim = key;
  return true;
}

bool S3FifoPolicy::EvictFromMain(PageKey* victim) {
  PageKey key = main_.front();
  auto it = entries_.find(key);
  Entry& e = it->second;
  if (e.freq > 0) {
    --e.freq;
    main_.splice(main_.end(), main_, main_.begin());
    return false;
  }
  main_.pop_front();
  main_bytes_ -= e.bytes;
  entries_.erase(it);
  *victim = key;
  return true;
}

void S3FifoPolicy::AddGhost(const PageKey& key, uint64_t bytes) {
  const uint64_t seq = ++ghost_seq_;
  auto [it, inserted] = ghost_.try_emplace(key);
  if (!inserted) ghost_bytes_ -= it->second.bytes;
  it->second = Ghost{seq, bytes};
  ghost_bytes_ += bytes;
  ghost_fifo_.push_back(GhostRecord{key, seq, bytes});
  TrimGhost();
}

void S3FifoPolicy::TrimGhost() {
  // The ghost remembers about as many bytes as the main queue may hold.
  const auto limit =
      static_cast<uint64_t>(static_cast<double>(capacity_) * (1.0 - options_.small_ratio));
  while (ghost_bytes_ > limit && !ghost_fifo_.empty()) {
    const GhostRecord& r = ghost_fifo_.front();
    auto it = ghost_.find(r.key);
    if (it != ghost_.end() && it->second.seq == r.seq) {
      ghost_bytes_ -= it->second.bytes;
      ghost_.erase(it);
    }
    ghost_fifo_.pop_front();
  }
  // Ghost hits leave stale records behind; compact when they dominate (amortised O(1)).
  if (ghost_fifo_.size() > 2 * ghost_.size() + 64) {
    std::deque<GhostRecord> live;
    for (const GhostRecord& r : ghost_fifo_) {
      auto it = ghost_.find(r.key);
      if (it != ghost_.end() && it->second.seq == r.seq) live.push_back(r);
    }
    ghost_fifo_.swap(live);
  }
}

}  // namespace sluice::pagestore
