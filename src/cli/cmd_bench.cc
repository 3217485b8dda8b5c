// `sluice bench cache`: reads a namespace path through a single-node cache engine
// several times and reports each pass: the demo of the read-through core, and a
// quick way to measure a mount's cold and warm behaviour.
#include <fmt/format.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/hash.h"
#include "common/logging.h"

namespace sluice::cli {
namespace {

struct BenchFlags {
  EngineFlags engine;
  std::string path;
  int passes = 2;
  int threads = 16;
  std::string generate;        // N:SIZE small objects to write first
  std::string generate_large;  // SIZE of one large object to write first
  bool json = false;
};

struct FileEntry {
  std::string path;
  uint64_t size;
};

struct PassResult {
  int pass = 0;
  uint64_t files = 0, bytes = 0, errors = 0;
  double seconds = 0;
  uint64_t page_hits = 0, page_misses = 0, ufs_reads = 0, ufs_bytes = 0;
  uint64_t digest = 0;  // order-independent digest of all bytes read
  double HitRatio() const {
    uint64_t all = page_hits + page_misses;
    return all ? static_cast<double>(page_hits) / static_cast<double>(all) : 0;
  }
};

// Deterministic content for generated objects.
std::string Content(uint64_t seed, uint64_t size) {
  std::string s(size, '\0');
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t i = 0; i < size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(s.data() + i, &x, std::min<size_t>(8, size - i));
  }
  return s;
}

Status WriteObject(ufs::UnderStore* store, const std::string& key, const std::string& data) {
  SLUICE_ASSIGN_OR_RETURN(auto w, store->OpenWrite(key));
  for (size_t off = 0; off < data.size(); off += 8 * kMiB) {
    Status s = w->Append(std::string_view(data).substr(off, 8 * kMiB));
    if (!s.ok()) {
      w->Abort();
      return s;
    }
  }
  return w->Close().status();
}

Status Generate(const worker::Engine& e, const BenchFlags& f, int threads) {
  SLUICE_ASSIGN_OR_RETURN(ufs::Resolved r, e.mounts->Resolve(f.path));
  if (!r.store) return Status::InvalidArgument("--generate needs a path inside a mount");
  std::string base = r.key.empty() ? "" : r.key + "/";
  uint64_t count = 0, size = 0;
  if (!f.generate.empty()) {
    size_t colon = f.generate.find(':');
    if (colon == std::string::npos) return Status::InvalidArgument("--generate is N:SIZE");
    const std::string n = f.generate.substr(0, colon);
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), count);
    if (n.empty() || ec != std::errc() || end != n.data() + n.size()) {
      return Status::InvalidArgument(fmt::format("--generate '{}': N must be a count", f.generate));
    }
    SLUICE_ASSIGN_OR_RETURN(size, ParseSize(f.generate.substr(colon + 1)));
  }
  std::atomic<uint64_t> next{0};
  std::mutex mu;
  Status first_error;
  auto worker = [&] {
    for (uint64_t i = next++; i < count; i = next++) {
      Status s =
          WriteObject(r.store.get(), fmt::format("{}small/{:06}.bin", base, i), Content(i, size));
      if (!s.ok()) {
        std::lock_guard lock(mu);
        if (first_error.ok()) first_error = s;
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  SLUICE_RETURN_IF_ERROR(first_error);
  if (!f.generate_large.empty()) {
    SLUICE_ASSIGN_OR_RETURN(uint64_t large, ParseSize(f.generate_large));
    SLUICE_RETURN_IF_ERROR(WriteObject(r.store.get(), base + "large.bin", Content(~0ULL, large)));
  }
  return Status::OK();
}

Result<std::vector<FileEntry>> ListAll(const worker::Engine& e, const std::string& path) {
  SLUICE_ASSIGN_OR_RETURN(ufs::Resolved r, e.mounts->Resolve(path));
  std::vector<FileEntry> out;
  std::vector<ufs::Resolved> targets;
  if (!r.store) {
    for (const auto& m : e.mounts->List()) targets.push_back({m.store, m.name, ""});
  } else {
    targets.push_back(r);
  }
  for (const auto& t : targets) {
    // A path naming one object reads that object.
    if (!t.key.empty()) {
      if (auto info = t.store->Stat(t.key); info.ok() && !info->is_dir) {
        out.push_back({"/" + t.mount + "/" + t.key, info->size});
        continue;
      }
    }
    ufs::ListOptions o;
    o.prefix = ufs::DirPrefix(t.key);
    for (;;) {
      SLUICE_ASSIGN_OR_RETURN(ufs::ListPage page, t.store->List(o));
      for (const auto& obj : page.objects) out.push_back({"/" + t.mount + "/" + obj.key, obj.size});
      if (!page.truncated) break;
      o.continuation_token = page.next_token;
    }
  }
  return out;
}

PassResult RunPass(const worker::Engine& e, const std::vector<FileEntry>& files, int threads) {
  PassResult res;
  auto before = e.cache->GetStats();
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0}, errors{0}, digest{0};
  auto start = std::chrono::steady_clock::now();
  auto worker = [&] {
    std::vector<char> buf(4 * kMiB);
    for (size_t i = next++; i < files.size(); i = next++) {
      const FileEntry& f = files[i];
      uint64_t off = 0, h = Hash64(f.path);
      while (off < f.size) {
        auto n = e.cache->Read(f.path, off, std::span<char>(buf.data(), buf.size()));
        if (!n.ok() || *n == 0) {
          if (!n.ok()) SLUICE_LOG_ERROR("read {}: {}", f.path, n.status().ToString());
          errors++;
          break;
        }
        h = Hash64(std::string_view(buf.data(), *n), h);
        off += *n;
      }
      bytes += off;
      digest += h;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto after = e.cache->GetStats();
  res.files = files.size();
  res.bytes = bytes;
  res.errors = errors;
  res.digest = digest;
  res.page_hits = after.page_hits - before.page_hits;
  res.page_misses = after.page_misses - before.page_misses;
  res.ufs_reads = after.ufs_reads - before.ufs_reads;
  res.ufs_bytes = after.ufs_bytes - before.ufs_bytes;
  return res;
}

int Run(const BenchFlags& f) {
  auto engine = BuildEngineFromFlags(f.engine);
  if (!engine.ok()) return Fail(engine.status());
  if (!f.generate.empty() || !f.generate_large.empty()) {
    if (!f.json) std::cout << "generating data set under " << f.path << " ...\n" << std::flush;
    if (Status s = Generate(*engine, f, f.threads); !s.ok()) return Fail(s.WithContext("generate"));
  }
  auto files = ListAll(*engine, f.path);
  if (!files.ok()) return Fail(files.status().WithContext("list " + f.path));
  if (files->empty()) return Fail(Status::NotFound(fmt::format("no objects under '{}'", f.path)));
  uint64_t total = 0;
  for (const auto& e : *files) total += e.size;

  std::vector<PassResult> results;
  if (!f.json) {
    fmt::print("reading {} objects ({}) under {}, {} threads, {} passes\n\n", files->size(),
               FormatSize(total), f.path, f.threads, f.passes);
    fmt::print("{:>4}  {:>7}  {:>10}  {:>8}  {:>10}  {:>9}  {:>9}  {:>10}\n", "pass", "objects",
               "bytes", "seconds", "MiB/s", "objects/s", "hit ratio", "ufs reads");
  }
  bool consistent = true;
  for (int p = 1; p <= f.passes; ++p) {
    PassResult r = RunPass(*engine, *files, f.threads);
    r.pass = p;
    if (!results.empty() && r.digest != results.front().digest) consistent = false;
    results.push_back(r);
    if (!f.json) {
      fmt::print("{:>4}  {:>7}  {:>10}  {:>8.3f}  {:>10.1f}  {:>9.0f}  {:>8.1f}%  {:>10}\n", p,
                 r.files, FormatSize(r.bytes), r.seconds, r.bytes / r.seconds / kMiB,
                 r.files / r.seconds, 100 * r.HitRatio(), r.ufs_reads);
    }
  }
  uint64_t errors = 0;
  for (const auto& r : results) errors += r.errors;
  if (f.json) {
    nlohmann::json j;
    j["path"] = f.path;
    j["objects"] = files->size();
    j["bytes"] = total;
    j["consistent"] = consistent;
    for (const auto& r : results) {
      j["passes"].push_back({{"pass", r.pass},
                             {"seconds", r.seconds},
                             {"bytes", r.bytes},
                             {"errors", r.errors},
                             {"hit_ratio", r.HitRatio()},
                             {"page_hits", r.page_hits},
                             {"page_misses", r.page_misses},
                             {"ufs_reads", r.ufs_reads},
                             {"ufs_bytes", r.ufs_bytes}});
    }
    auto ps = engine->pages->GetStats();
    j["page_store"] = {{"pages", ps.pages},
                       {"bytes_used", ps.bytes_used},
                       {"capacity", ps.capacity},
                       {"evictions", ps.evictions}};
    std::cout << j.dump(2) << "\n";
  } else {
    if (results.size() > 1 && results.front().seconds > 0) {
      fmt::print("\nwarm pass {:.1f}x faster than cold; every pass read identical bytes: {}\n",
                 results.front().seconds / results.back().seconds, consistent ? "yes" : "NO");
    }
    if (errors) fmt::print("{} read errors (see log)\n", errors);
  }
  return errors == 0 && consistent ? 0 : 1;
}

}  // namespace

void RegisterBench(CLI::App* app, int* exit_code) {
  auto* bench = app->add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  auto flags = std::make_shared<BenchFlags>();
  auto* cache = bench->add_subcommand(
      "cache", "Read a path through a single-node cache several times; report each pass");
  AddEngineFlags(cache, &flags->engine);
  cache->add_option("--path", flags->path, "namespace path to read (/NAME[/prefix])")->required();
  cache->add_option("--passes", flags->passes, "times to read everything")->default_val(2);
  cache->add_option("--threads", flags->threads, "concurrent readers")->default_val(16);
  cache->add_option("--generate", flags->generate, "first write N objects of SIZE (N:SIZE)");
  cache->add_option("--generate-large", flags->generate_large, "first write one object of SIZE");
  cache->add_flag("--json", flags->json, "machine-readable output");
  cache->callback([flags, exit_code] { *exit_code = Run(*flags); });
}

}  // namespace sluice::cli
