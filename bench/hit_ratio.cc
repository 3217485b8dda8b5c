// hit_ratio_bench: trace-driven hit ratios of every eviction policy on the real memory
// store (read-through: a miss is followed by a Put), printed as a markdown table.
//
// Traces (page size 4 KiB, so the store is byte-weighted exactly like production):
//   shuffled-epochs  5 epochs over a data set twice the cache; each epoch visits every
//                    page once, in a fresh random order (a PyTorch DataLoader with
//                    shuffle=True). An ideal online policy keeps a fixed half: ~50% after
//                    the first (cold) epoch.
//   zipf-0.9         Zipf(0.9) over a data set ten times the cache.
//   zipf+scans       the Zipf trace with a one-pass scan of never-reused pages (as large
//                    as the cache) after every 10% of the requests.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "pagestore/page_store.h"
#include "pagestore/s3fifo_policy.h"

namespace {

using sluice::pagestore::MakeFileId;
using sluice::pagestore::MakeMemoryStore;
using sluice::pagestore::MemoryStoreOptions;
using sluice::pagestore::PageKey;
using sluice::pagestore::PageStore;

constexpr size_t kPageSize = 4096;
constexpr uint64_t kCachePages = 8192;  // 32 MiB

struct Result {
  uint64_t hits = 0;
  uint64_t requests = 0;
  double Ratio() const { return requests ? static_cast<double>(hits) / requests : 0; }
};

// Replays `trace` (page numbers) through a fresh store; `warm` requests are not scored.
Result Replay(const std::string& policy, const std::vector<uint64_t>& trace, size_t warm) {
  auto store = MakeMemoryStore(MemoryStoreOptions{kCachePages * kPageSize, policy});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  const sluice::Hash128 file = MakeFileId("bench://trace", "v1", 1 << 20);
  std::string page(kPageSize, 'x');
  std::vector<char> out(kPageSize);
  Result r;
  for (size_t i = 0; i < trace.size(); ++i) {
    const PageKey key{file, trace[i]};
    const bool hit = (*store)->Read(key, 0, out).has_value();
    if (!hit) (void)(*store)->Put(key, page);
    if (i >= warm) {
      ++r.requests;
      r.hits += hit ? 1 : 0;
    }
  }
  return r;
}

// The same replay against a bare policy with byte accounting, for variants that have no
// store-level name (the paper's S3-FIFO without the frequency gate).
Result ReplayPolicy(sluice::pagestore::EvictionPolicy& policy, const std::vector<uint64_t>& trace,
                    size_t warm) {
  const sluice::Hash128 file = MakeFileId("bench://trace", "v1", 1 << 20);
  const uint64_t capacity = kCachePages * kPageSize;
  std::unordered_set<PageKey, sluice::pagestore::PageKeyHash> held;
  uint64_t used = 0;
  Result r;
  for (size_t i = 0; i < trace.size(); ++i) {
    const PageKey key{file, trace[i]};
    const bool hit = held.contains(key);
    if (hit) {
      policy.OnAccess(key);
    } else if (policy.ShouldAdmit(key, used + kPageSize > capacity)) {
      while (used + kPageSize > capacity) {
        auto victim = policy.Evict();
        if (!victim) break;
        held.erase(*victim);
        used -= kPageSize;
      }
      if (used + kPageSize <= capacity) {
        policy.OnInsert(key, kPageSize);
        held.insert(key);
        used += kPageSize;
      }
    }
    if (i >= warm) {
      ++r.requests;
      r.hits += hit ? 1 : 0;
    }
  }
  return r;
}

std::vector<uint64_t> ShuffledEpochs(uint64_t pages, int epochs, std::mt19937_64& rng) {
  std::vector<uint64_t> order(pages), trace;
  for (uint64_t i = 0; i < pages; ++i) order[i] = i;
  for (int e = 0; e < epochs; ++e) {
    std::shuffle(order.begin(), order.end(), rng);
    trace.insert(trace.end(), order.begin(), order.end());
  }
  return trace;
}

std::vector<uint64_t> Zipf(uint64_t pages, double alpha, size_t n, std::mt19937_64& rng) {
  std::vector<double> cdf(pages);
  double sum = 0;
  for (uint64_t i = 0; i < pages; ++i) cdf[i] = (sum += 1.0 / std::pow(i + 1.0, alpha));
  // Ranks are scattered over page numbers so that popularity is not key order.
  std::vector<uint64_t> page_of_rank(pages);
  for (uint64_t i = 0; i < pages; ++i) page_of_rank[i] = i;
  std::shuffle(page_of_rank.begin(), page_of_rank.end(), rng);
  std::uniform_real_distribution<double> u(0, sum);
  std::vector<uint64_t> trace(n);
  for (size_t i = 0; i < n; ++i) {
    const auto rank = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
    trace[i] = page_of_rank[static_cast<size_t>(rank)];
  }
  return trace;
}

std::vector<uint64_t> WithScans(const std::vector<uint64_t>& base, uint64_t scan_pages) {
  std::vector<uint64_t> trace;
  uint64_t next_cold = 1ULL << 40;  // never reused
  const size_t step = base.size() / 10;
  for (size_t i = 0; i < base.size(); ++i) {
    if (i > 0 && i % step == 0) {
      for (uint64_t s = 0; s < scan_pages; ++s) trace.push_back(next_cold++);
    }
    trace.push_back(base[i]);
  }
  return trace;
}

}  // namespace

int main() {
  std::mt19937_64 rng(42);
  const int epochs = 5;
  const uint64_t data_pages = 2 * kCachePages;
  const auto epochs_trace = ShuffledEpochs(data_pages, epochs, rng);
  const auto zipf = Zipf(10 * kCachePages, 0.9, 20 * 10 * kCachePages / 4, rng);
  const auto scans = WithScans(zipf, kCachePages);

  std::printf(
      "cache: %llu pages of %zu bytes; shuffled epochs: %d x %llu pages; "
      "zipf: %zu requests over %llu pages\n\n",
      static_cast<unsigned long long>(kCachePages), kPageSize, epochs,
      static_cast<unsigned long long>(data_pages), zipf.size(),
      static_cast<unsigned long long>(10 * kCachePages));
  std::printf(
      "| policy | shuffled epochs (all %d) | shuffled epochs (last) | zipf 0.9 | "
      "zipf 0.9 + scans |\n|---|---|---|---|---|\n",
      epochs);
  for (const std::string policy : {"s3fifo", "lru", "none"}) {
    const Result all = Replay(policy, epochs_trace, 0);
    const Result steady = Replay(policy, epochs_trace, (epochs - 1) * data_pages);
    const Result z = Replay(policy, zipf, 0);
    const Result zs = Replay(policy, scans, 0);
    std::printf("| %s | %.3f | %.3f | %.3f | %.3f |\n", policy.c_str(), all.Ratio(), steady.Ratio(),
                z.Ratio(), zs.Ratio());
  }
  auto classic = [] {
    sluice::pagestore::S3FifoPolicy::Options o;
    o.frequency_gate = false;
    return sluice::pagestore::S3FifoPolicy(kCachePages * kPageSize, o);
  };
  auto all = classic(), steady = classic(), z = classic(), zs = classic();
  std::printf("| s3fifo (paper, no frequency gate) | %.3f | %.3f | %.3f | %.3f |\n",
              ReplayPolicy(all, epochs_trace, 0).Ratio(),
              ReplayPolicy(steady, epochs_trace, (epochs - 1) * data_pages).Ratio(),
              ReplayPolicy(z, zipf, 0).Ratio(), ReplayPolicy(zs, scans, 0).Ratio());
  return 0;
}
