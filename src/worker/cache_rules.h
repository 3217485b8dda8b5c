// CacheRules: what a worker keeps, and for how long, by path (docs/load.md).
//
// - Pins (`sluice pin PATH`, `sluice unpin PATH`): the pages of every object at or below a
//   pinned path are never evicted. Pinning marks the pages already cached (the path is
//   listed, page by page) and every page stored later. Pins are kept in
//   `state_dir`/pins.json and applied again when the worker restarts.
// - TTLs (config `ttl_rules`): the pages of an object at or below a rule's path are
//   dropped that long after this worker first stored them (the longest-matching rule
//   wins). Sweep() drops what has expired; the worker calls it every second. Objects
//   whose pages were recovered from disk after a restart are timed from the restart
//   (ReapplyPins lists each rule's path).
// - Quotas (config `mount_quotas`): a mount's pages use at most that many bytes of each
//   cache tier; past it, the mount's own oldest pages make room (page store groups).
//
// A path P covers P itself and everything below P/ ("/data/a" covers "/data/a/b", not
// "/data/ab").
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/units.h"
#include "pagestore/page_store.h"
#include "ufs/mount_table.h"
#include "worker/read_through.h"

namespace sluice::worker {

struct TtlRule {
  std::string path;  // namespace path: /NAME or below
  Duration ttl{};
};

struct CacheRulesConfig {
  std::vector<TtlRule> ttl_rules;
  std::map<std::string, uint64_t> mount_quotas;  // mount name -> bytes
  // Not from YAML: the engine's page size (CacheOptions::page_size; file ids name it), set
  // by the worker.
  uint64_t page_size = 1 << 20;
  Status Validate() const;
};

struct CacheRulesStats {
  uint64_t pins = 0;               // pinned paths
  uint64_t ttl_tracked = 0;        // objects with pages under a TTL rule
  uint64_t ttl_expired = 0;        // objects whose pages expired (since start)
  uint64_t ttl_expired_pages = 0;  // pages dropped by expiry
};

class CacheRules : public ReadThroughCache::PagePolicy {
 public:
  CacheRules(CacheRulesConfig config, std::shared_ptr<ufs::MountTable> mounts,
             std::shared_ptr<pagestore::PageStore> pages, std::string state_dir,
             Clock* clock = Clock::Real());

  // PagePolicy: pinned when a pin covers the object; the mount's quota group; starts the
  // object's TTL clock.
  pagestore::PutOptions OnStore(const ufs::Resolved& where, const Hash128& file_id) override;
  // Re-pins or unpins the object's pages when a pin or unpin came between OnStore and the
  // end of the store, and restarts its TTL when an expiry dropped it meanwhile.
  void AfterStore(const ufs::Resolved& where, const Hash128& file_id,
                  const pagestore::PutOptions& used) override;

  // Pins (unpins) `path`: records it and marks the pages already cached below it.
  // Returns the pages marked. kInvalidArgument when `path` is not in a mount.
  Result<uint64_t> Pin(const std::string& path);
  Result<uint64_t> Unpin(const std::string& path);
  // Marks the pages of every pinned path again (after a restart: recovered pages are
  // not pinned), and starts the TTL of every cached object under a TTL rule (timed from
  // now). Lists the under store.
  void ReapplyPins();
  // Makes a ReapplyPins or Pin under way stop at its next listing page (worker stopping).
  void Cancel() { cancelled_ = true; }
  std::vector<std::string> Pins() const;
  bool Pinned(const std::string& path) const;

  // Drops the pages of objects whose TTL has passed. Returns pages dropped.
  uint64_t Sweep();

  // The quota group of a mount (0: none) and its quota.
  uint32_t GroupOf(const std::string& mount) const;
  CacheRulesStats GetStats() const;
  // {"pins":[...],"ttl_rules":[{path,ttl_ms}],"quotas":[{mount,quota_bytes,used_bytes}],...}
  nlohmann::json Json() const;

 private:
  // Whether a pin covers `path`. REQUIRES: mu_
  bool PinnedLocked(const std::string& path) const;
  // What a store of `path`'s pages (file `file_id`) starts: its pin is remembered when a
  // pin covers it (returned), and its TTL clock when `ttl` is not null and none runs yet.
  // REQUIRES: mu_
  bool NoteStoredLocked(const std::string& path, const Hash128& file_id, const TtlRule* ttl);
  // Calls `fn` with the namespace path and file id (at its current version) of the
  // object `path` names, or of every object below it, listed page by page.
  Status ForEachObject(const std::string& path,
                       const std::function<void(const std::string& path, const Hash128& file_id)>& fn);
  // Marks (pinned) or unmarks the cached pages of the objects at or below `path`.
  Result<uint64_t> Mark(const std::string& path, bool pinned);
  // Registers the TTL of objects under a TTL rule whose pages the store holds (recovered
  // after a restart) and that have none.
  void ReapplyTtls();
  // Writes `pins` to <state_dir>/pins.json (a temporary file, fsync'ed, renamed over it):
  // the old list stays whole when that fails. REQUIRES: save_mu_ (not mu_).
  Status SavePins(const std::vector<std::string>& pins) const;
  const TtlRule* TtlFor(const std::string& path) const;

  const CacheRulesConfig config_;
  std::shared_ptr<ufs::MountTable> mounts_;
  std::shared_ptr<pagestore::PageStore> pages_;
  const std::string state_dir_;
  Clock* const clock_;
  std::map<std::string, uint32_t> groups_;  // mount -> quota group (from 1)

  std::mutex save_mu_;  // one change of the pin list (and its file) at a time; before mu_

  mutable std::mutex mu_;
  std::vector<std::string> pins_;  // GUARDED_BY(mu_)
  struct Expiry {
    std::string path;
    Clock::TimePoint at;
  };
  std::map<Hash128, Expiry> expiries_;  // GUARDED_BY(mu_)
  // Every file id pinned since start (stored under a pin, or marked), with its path: an
  // unpin releases them all, versions the store no longer lists included.
  std::map<Hash128, std::string> pinned_files_;  // GUARDED_BY(mu_)
  // The newest pinned version of each path: a newer one supersedes it. GUARDED_BY(mu_)
  std::unordered_map<std::string, Hash128> pinned_by_path_;
  std::vector<Hash128> superseded_;  // GUARDED_BY(mu_): to unpin at the next AfterStore
  void RememberPinnedLocked(const Hash128& file_id, const std::string& path);  // REQUIRES: mu_
  void ForgetPinnedLocked(const Hash128& file_id);                             // REQUIRES: mu_
  std::atomic<uint64_t> expired_{0}, expired_pages_{0};
  std::atomic<bool> cancelled_{false};
};

// Whether `path` is `prefix` or below it.
bool PathCovers(std::string_view prefix, std::string_view path);

}  // namespace sluice::worker
