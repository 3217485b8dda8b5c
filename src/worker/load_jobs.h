// LoadJobs: a worker's share of `sluice load` (docs/load.md).
//
// A load job is submitted to every member with the same id and spec. Each worker walks
// the path's listing page by page (never the whole listing in memory). The pages come
// through Deps::list: in a cluster, all members read them from one member's listing cache
// (the first owner of the job's path), so the under store lists each page once, not once
// per member. Of each page a worker loads what it owns: for each object (each block of a
// file larger than the block size), it loads it when it is among that key's first
// `replicas` owners. Loading reads the object's bytes through the read-through cache, so
// it fills the same pages a reader would; with `metadata_only` it only caches the stats
// the listing gave.
// `verify` then compares the cached bytes with the under store's, and drops and reloads an
// object that differs (counted as a mismatch).
//
// Progress is checkpointed after each listing page (the key the next page starts after,
// and the counters) in `state_dir`/jobs/ID.json. A worker restarted in the middle of a job
// resumes it from its last checkpoint; work done after it is done again (and served from
// the cache). Objects that fail are counted and listed (the first kMaxFailures), and the
// job goes on. Without a state_dir jobs are not persisted.
//
// Concurrency: each job loads `concurrency` objects at once (at most one fetch of
// max_fetch_pages pages each), and at most `bandwidth` bytes per second when set.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/thread_pool.h"
#include "sluice/status.h"
#include "ufs/mount_table.h"
#include "worker/read_through.h"

namespace sluice::worker {

struct LoadSpec {
  std::string id;  // 1..64 of [A-Za-z0-9._-], chosen by the submitter
  std::string path;  // namespace path: one object, or a directory
  bool recursive = false;  // a directory's whole tree, else only the objects directly in it
  bool metadata_only = false;
  bool verify = false;
  int replicas = 0;        // owners of each key that load it; 0: the path's replicas
  uint64_t bandwidth = 0;  // bytes per second this worker may load; 0: no limit
  int concurrency = 16;    // objects loaded at once, 1..256

  Status Validate() const;
  static bool ValidId(std::string_view id);
  nlohmann::json ToJson() const;
  static Result<LoadSpec> FromJson(const nlohmann::json& j);
};

struct LoadTotals {  // of every job since the worker started (for /metrics)
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t failures = 0;
  uint64_t mismatches = 0;
  uint64_t running = 0;
  uint64_t prefetch_queued = 0;   // paths queued by /v1/prefetch
  uint64_t prefetch_loaded = 0;   // of them loaded
  uint64_t prefetch_dropped = 0;  // refused: the queue was full
  uint64_t prefetch_failed = 0;
  uint64_t prefetch_cached = 0;   // of the loaded, already cached (nothing read)
};

class LoadJobs {
 public:
  struct Deps {
    std::shared_ptr<ufs::MountTable> mounts;
    std::shared_ptr<ReadThroughCache> cache;
    // The first `replicas` (0: the path's replicas) owners of block `block` of `path`
    // include this worker. `size` is the object's size (blocks apply above block_size).
    std::function<bool(std::string_view path, uint64_t block, int replicas)> owns;
    std::function<uint64_t()> block_size;
    // One page, fresh for this job, of the listing `o` of `job` (whose path resolved to
    // `where`). Unset: the under store's own.
    std::function<Result<ufs::ListPage>(const LoadSpec& job, const ufs::Resolved& where,
                                        const ufs::ListOptions& o)>
        list;
    // The member `list` reads a job's pages from ("" : this worker), for its status.
    std::function<std::string(const LoadSpec& job)> lister;
    // The ids of the cluster's members now: recorded with a job when it is submitted, so
    // its followers know whose parts to wait for (a member that leaves the cluster for
    // good takes its part with it: the job is incomplete, not done). Unset: none recorded.
    std::function<std::vector<std::string>()> members;
    std::string state_dir;  // "" : nothing persisted
  };
  static constexpr size_t kMaxFailures = 1000;  // failures listed per job (all are counted)
  // Jobs kept (with their checkpoints); past it, the oldest finished ones are forgotten.
  static constexpr size_t kMaxJobs = 100;

  explicit LoadJobs(Deps deps);
  // Stops the running jobs; their checkpoints stay "running", so a restart resumes them.
  ~LoadJobs();

  // Stops the running jobs without marking them stopped (the worker is going away);
  // their checkpoints stay "running". Idempotent.
  void Shutdown();
  // Reads the checkpoints a previous run of this worker left (before the worker serves,
  // so that a job resubmitted by a following CLI finds its checkpoint, not a fresh start),
  // then, once it serves, starts again the jobs that were running.
  void LoadPersisted();
  void StartResumed();
  // Starts a job, or answers the state of the job with this id when it exists already
  // (submitting is idempotent). kNotFound when `path` names nothing (no object, and no
  // object below it); kInvalidArgument for a bad spec.
  Result<nlohmann::json> Submit(const LoadSpec& spec);
  // {"id","spec","state":"running|done|stopped|failed","lister","listing_done","listed",
  //  "files_total","files_done","bytes_done","failed","mismatched","failures":[{path,error}],
  //  "mismatches":[path],"error","started_ms","ended_ms"}; kNotFound for an unknown id.
  Result<nlohmann::json> Get(const std::string& id);
  // Stops a running job (its state becomes "stopped"); a finished one is left as it is.
  Result<nlohmann::json> Stop(const std::string& id);
  nlohmann::json List();
  LoadTotals Totals() const;

  // Queues `paths` for loading on the prefetch threads, in order (POST /v1/prefetch): each
  // object, or the blocks of it this worker owns. Paths past kMaxPrefetchQueue queued are
  // dropped. Returns how many were queued.
  size_t Prefetch(const std::vector<std::string>& paths);
  static constexpr size_t kMaxPrefetchQueue = 100000;

 private:
  struct Job;
  void Run(std::shared_ptr<Job> job);
  void LoadObject(Job& job, const ufs::Resolved& where, const ufs::ObjectInfo& listed);
  // Reads [offset, offset + length) of `path` at `version` through the cache
  // (kFailedPrecondition when the object is another version now).
  Status LoadRange(Job& job, const std::string& path, uint64_t offset, uint64_t length,
                   std::string* buf, std::string_view version);
  Result<bool> VerifyRange(Job& job, const ufs::Resolved& where, const ufs::ObjectInfo& info,
                           uint64_t offset, uint64_t length, std::string* cached);
  void Persist(Job& job);
  // Forgets the oldest finished jobs when kMaxJobs are kept.
  void Forget();
  void Start(std::shared_ptr<Job> job);
  std::string FileOf(const std::string& id) const;

  void PrefetchOne(const std::string& path);

  const Deps deps_;
  std::unique_ptr<ThreadPool> prefetchers_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> prefetch_queued_{0}, prefetch_loaded_{0}, prefetch_dropped_{0},
      prefetch_failed_{0}, prefetch_cached_{0};
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // GUARDED_BY(mu_)
  std::vector<std::shared_ptr<Job>> to_resume_;        // GUARDED_BY(mu_)
  std::atomic<uint64_t> files_{0}, bytes_{0}, failures_{0}, mismatches_{0};
};

}  // namespace sluice::worker
