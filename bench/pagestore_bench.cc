// pagestore_bench: micro-benchmarks of the page store.
//
//   BM_Memcpy1MiB            the ceiling: a plain 1 MiB memcpy
//   BM_MemoryHit/<size>      memory-tier hit, whole page (target: >= 0.5x memcpy at 1 MiB)
//   BM_DiskHit/<size>        disk-tier hit with the OS page cache warm (pread + checksum)
//   BM_MemoryPut, BM_DiskPut inserts at capacity (each evicts)
//   BM_Policy/<name>         one insert + one access + one eviction on a full policy
//
// Run: build/bench/pagestore_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "pagestore/eviction_policy.h"
#include "pagestore/page_store.h"

namespace sluice::pagestore {
namespace {

constexpr size_t kMiB = 1 << 20;

PageKey BenchKey(uint64_t i) { return PageKey{MakeFileId("bench://object", "v1", 1 << 20), i}; }

// A scratch directory removed at the end of a benchmark.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-bench-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void BM_Memcpy1MiB(benchmark::State& state) {
  std::string src(kMiB, 'x');
  std::vector<char> dst(kMiB);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), kMiB);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kMiB));
}
BENCHMARK(BM_Memcpy1MiB);

void ReadHit(benchmark::State& state, PageStore& store, size_t size) {
  if (!store.Put(BenchKey(0), std::string(size, 'x')).ok()) {
    state.SkipWithError("put failed");
    return;
  }
  std::vector<char> out(size);
  for (auto _ : state) {
    auto n = store.Read(BenchKey(0), 0, out);
    if (!n) state.SkipWithError("miss");
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

void BM_MemoryHit(benchmark::State& state) {
  auto store = std::move(MakeMemoryStore({64 * kMiB, "s3fifo"}).value());
  ReadHit(state, *store, static_cast<size_t>(state.range(0)));
}
BENCHMARK(BM_MemoryHit)->Arg(kMiB)->Arg(4096);

void BM_DiskHit(benchmark::State& state) {
  ScratchDir dir;
  auto store = OpenDiskStore({.dirs = {{dir.path(), 256 * kMiB}}});
  if (!store.ok()) return state.SkipWithError(store.status().ToString().c_str());
  ReadHit(state, **store, static_cast<size_t>(state.range(0)));
}
BENCHMARK(BM_DiskHit)->Arg(kMiB)->Arg(4096);

void PutLoop(benchmark::State& state, PageStore& store, size_t size) {
  const std::string data(size, 'y');
  uint64_t i = 0;
  for (auto _ : state) {
    if (!store.Put(BenchKey(i++), data).ok()) state.SkipWithError("put failed");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_MemoryPut(benchmark::State& state) {
  auto store = std::move(MakeMemoryStore({64 * kMiB, "s3fifo"}).value());
  PutLoop(state, *store, static_cast<size_t>(state.range(0)));
}
BENCHMARK(BM_MemoryPut)->Arg(kMiB)->Arg(4096);

void BM_DiskPut(benchmark::State& state) {
  ScratchDir dir;
  auto store = OpenDiskStore({.dirs = {{dir.path(), 64 * kMiB}}});
  if (!store.ok()) return state.SkipWithError(store.status().ToString().c_str());
  PutLoop(state, **store, static_cast<size_t>(state.range(0)));
}
BENCHMARK(BM_DiskPut)->Arg(kMiB)->Arg(4096);

// Steady state of a full policy: each iteration admits a new page (evicting one) and
// touches a held one.
void BM_Policy(benchmark::State& state, const char* name) {
  constexpr uint64_t kPages = 100000, kPage = 4096;
  auto policy = std::move(MakeEvictionPolicy(name, kPages * kPage).value());
  std::vector<PageKey> held;
  for (uint64_t i = 0; i < kPages; ++i) {
    policy->OnInsert(BenchKey(i), kPage);
    held.push_back(BenchKey(i));
  }
  std::mt19937_64 rng(1);
  uint64_t next = kPages;
  for (auto _ : state) {
    const PageKey key = BenchKey(next++);
    if (policy->ShouldAdmit(key, true)) {
      auto victim = policy->Evict();
      benchmark::DoNotOptimize(victim);
      policy->OnInsert(key, kPage);
    }
    policy->OnAccess(held[rng() % held.size()]);  // may be gone: then a no-op lookup
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK_CAPTURE(BM_Policy, s3fifo, "s3fifo");
BENCHMARK_CAPTURE(BM_Policy, lru, "lru");
BENCHMARK_CAPTURE(BM_Policy, none, "none");

}  // namespace
}  // namespace sluice::pagestore

BENCHMARK_MAIN();
