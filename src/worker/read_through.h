// ReadThroughCache: serves any byte range of any object in the namespace from cached
// pages, fetching what is missing from the under store.
//
// Contract:
// - Pages are keyed by (MakeFileId(object URI, version), page index). The version comes
//   from the object's stat, cached for `metadata_ttl`; after the TTL a changed object is
//   seen and read anew. Every under-store read names the expected version, so a read
//   never mixes bytes of two versions: on a version change mid-read, the metadata is
//   refreshed and the read restarts (once).
// - Single flight: however many readers miss the same page at once, the under store is
//   read once; the others wait for that fetch.
// - A cold object (no cached stat) costs one under-store request, not two: a ranged read
//   that also returns the object's size and version (UnderStore::ReadWithInfo) fills
//   the metadata cache and the pages the read needs at once, single-flight per object.
//   Exceptions, where the pages may already be cached and are used, not fetched again:
//   an object whose stat expired (or was never kept, with a TTL of 0) while the page the
//   read starts in is held for the version last known, and any object of an engine
//   started over a page store that already held pages (a restart over a disk cache).
//   Those are stat'ed instead (no bytes); their cached pages serve if still current.
// - Adjacent missing pages are fetched with one ranged read (up to max_fetch_pages).
// - Sequential readers get read-ahead: the next pages are fetched in the background on
//   `fetch_threads` threads, the window doubling up to `readahead_pages`.
// - A page store that refuses or fails a page is not an error to the reader: the bytes
//   are served from the fetch (pass-through) and a warning is logged (rate-limited).
// - Under-store errors are returned as they are (kNotFound, kUnavailable, ...).
//
// Thread-safety: all methods are thread-safe. Read blocks on the under store on a miss:
// call it from worker threads, never from an I/O thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/one_shot.h"
#include "common/thread_pool.h"
#include "common/units.h"
#include "pagestore/page_store.h"
#include "ufs/mount_table.h"
#include "worker/metadata_cache.h"

namespace sluice::worker {

struct CacheOptions {
  uint64_t page_size = 1 * kMiB;                     // 64 KiB .. 16 MiB
  Duration metadata_ttl = std::chrono::seconds(30);  // stat results (and misses) live this long
  size_t metadata_max_entries = 1'000'000;
  uint32_t readahead_pages = 16;  // largest read-ahead window, in pages; 0 disables
  uint32_t max_fetch_pages = 16;  // most pages in one under-store read
  int fetch_threads = 8;          // background read-ahead fetchers
  int fetch_attempts = 3;         // tries per fetch on a short (truncated) body
  // Read-ahead stops at multiples of this many bytes (0: never): in a cluster, the
  // placement block size, since the next block belongs to another worker.
  uint64_t readahead_boundary = 0;

  Status Validate() const;
};

struct ReadThroughStats {
  uint64_t reads = 0;  // Read calls
  uint64_t bytes_served = 0;
  uint64_t page_hits = 0;    // pages served from the page store
  uint64_t page_misses = 0;  // pages a reader had to fetch or wait for
  uint64_t ufs_reads = 0;    // ranged reads issued to under stores
  uint64_t ufs_bytes = 0;
  uint64_t ufs_errors = 0;
  uint64_t single_flight_waits = 0;  // misses satisfied by another reader's fetch
  uint64_t readahead_pages = 0;      // pages fetched ahead of readers
  uint64_t version_changes = 0;      // reads that found a new object version
  uint64_t store_put_failures = 0;   // pages served pass-through (store full or failing)
  uint64_t truncated_fetches = 0;    // fetches that returned fewer bytes than expected
};

class ReadThroughCache {
 public:
  ReadThroughCache(CacheOptions options, std::shared_ptr<ufs::MountTable> mounts,
                   std::shared_ptr<pagestore::PageStore> pages, Clock* clock = Clock::Real());
  ~ReadThroughCache();

  // Stat of a namespace path, through the metadata cache. The root and mount roots are
  // directories.
  Result<ufs::ObjectInfo> Stat(std::string_view path);
  // Stat for a reader about to read `length` bytes at `offset`: on a metadata miss the
  // object is opened cold (one under-store request returns its stat and those pages),
  // instead of a stat followed by a read.
  Result<ufs::ObjectInfo> StatForRead(std::string_view path, uint64_t offset, uint64_t length);

  // Reads bytes [offset, offset + out.size()) of the object at `path` into `out`.
  // Returns the number of bytes read: fewer only at the end of the object.
  // With `expected_version`, fails with kFailedPrecondition instead of reading another
  // version (a response whose headers named that version must not mix).
  Result<size_t> Read(std::string_view path, uint64_t offset, std::span<char> out,
                      std::string_view expected_version = {});
  Result<std::string> ReadRange(std::string_view path, uint64_t offset, uint64_t length);

  // Non-blocking reads for I/O threads: answer only from the metadata cache and pages
  // held in memory. nullopt means "not without blocking": call Stat/Read on a thread that
  // may block. Never touches a disk or an under store.
  struct CachedObject {
    ufs::ObjectInfo info;
    Hash128 file_id;  // of this version: what ShareIfInMemory looks pages up by
    ufs::Resolved where;
    std::string uri;  // where.ObjectUri()
  };
  std::optional<CachedObject> CachedStat(std::string_view path);
  // A piece of a page held in memory; `page` keeps `bytes` valid (after an eviction too),
  // so a response can be sent from it without copying.
  struct SharedSlice {
    std::shared_ptr<const std::string> page;
    std::string_view bytes;
  };
  // Bytes [offset, offset + length) of the object (clipped to its size) as slices of
  // pages held in memory, in order; nullopt unless every page is (then nothing is
  // counted: Read counts them). A hit counts as a read, read-ahead included.
  std::optional<std::vector<SharedSlice>> ShareIfInMemory(const CachedObject& object,
                                                          uint64_t offset, uint64_t length);
  // For a handler streaming `path` at `version`: ShareIfInMemory when the object's stat is
  // cached at that version; nullopt otherwise (then Read).
  std::optional<std::vector<SharedSlice>> ShareCached(std::string_view path,
                                                      std::string_view version, uint64_t offset,
                                                      uint64_t length);

  // Whether the page store refused (or failed) a page this thread fetched since the last
  // call: the bytes were served pass-through, not cached. Clears the mark. (Pages another
  // reader's fetch stored are not seen here.)
  static bool TakeRefusedPut();

  // Forgets the metadata and cached pages of `path` (the version last known, its stat
  // expired or not). Returns pages dropped.
  size_t Invalidate(std::string_view path);
  // Forgets the cached stat (or miss) of `path` and of its directories; pages stay (they
  // are keyed by version).
  void InvalidateStat(std::string_view path);
  // Forgets the metadata of `path` and the cached pages of the version `known` names
  // (for callers that know the version from a listing). Returns pages dropped.
  size_t Forget(std::string_view path, const ufs::ObjectInfo& known);
  // Forgets the cached stats of everything below the directory `dir` ("/mount/dir", with
  // or without the trailing '/'), and the cached pages of the versions they name: objects
  // deleted from the store since, which no listing shows, included. Returns pages dropped.
  size_t ForgetBelow(std::string_view dir);

  // Write-through: `path` was just written with `info`; caches its metadata and offers
  // its pages, read from `source(offset, buffer)` (the bytes written), to the page
  // store. Best effort: a page the store refuses is skipped. Returns pages cached.
  using PageSource = std::function<Result<size_t>(uint64_t offset, std::span<char> out)>;
  size_t AdmitWritten(std::string_view path, const ufs::ObjectInfo& info,
                      const PageSource& source);

  // Caches `info` (from a listing) as the stat of `path`, as a Stat would have.
  void Remember(std::string_view path, const ufs::ObjectInfo& info);

  // Says how the pages of an object are stored (pinned, quota group), and learns which
  // objects have pages (worker/cache_rules.h). Called for each object whose pages are
  // about to be stored, with the file id they are keyed by.
  class PagePolicy {
   public:
    virtual ~PagePolicy() = default;
    virtual pagestore::PutOptions OnStore(const ufs::Resolved& where, const Hash128& file_id) = 0;
    // After the pages stored with `used` (OnStore's answer) are in the store: a pin,
    // unpin or expiry meanwhile may have missed them (they were not stored yet, or were
    // stored with the old answer); the policy puts that right here.
    virtual void AfterStore(const ufs::Resolved& where, const Hash128& file_id,
                            const pagestore::PutOptions& used) {
      (void)where, (void)file_id, (void)used;
    }
  };
  // Set once, before the cache serves (not synchronised with readers).
  void SetPagePolicy(std::shared_ptr<PagePolicy> policy) { policy_ = std::move(policy); }

  ReadThroughStats GetStats() const;
  MetadataCacheStats GetMetadataStats() const { return metadata_.GetStats(); }
  const CacheOptions& options() const { return options_; }
  pagestore::PageStore* page_store() const { return pages_.get(); }

 private:
  struct Target;  // a resolved object at one version
  // One in-progress page fetch; its waiters get the page, or null if the fetch failed.
  using Flight = OneShot<std::shared_ptr<const std::string>>;
  // One in-progress cold open (stat + first pages) of an object.
  using OpenFlight = OneShot<Result<ufs::ObjectInfo>>;
  using FlightMap =
      std::unordered_map<pagestore::PageKey, std::shared_ptr<Flight>, pagestore::PageKeyHash>;

  Result<ufs::ObjectInfo> StatResolved(const ufs::Resolved& r, bool bypass_cache);
  // For an object whose metadata is not cached: one under-store request returns its
  // info and the pages a read at `offset` needs first (single flight per object).
  // Pages a cold open fetched for its reader: served to it directly, counted as misses.
  struct Prefetched {
    uint64_t first = 0;
    std::vector<std::shared_ptr<const std::string>> pages;
  };
  Result<ufs::ObjectInfo> ColdOpen(const ufs::Resolved& r, uint64_t offset, uint64_t length,
                                   Prefetched* fetched);
  // Whether the page holding `offset` of the version of `uri` last known (an expired
  // stat, say) is in the page store.
  bool LastVersionCached(const std::string& uri, uint64_t offset);
  Result<ufs::ObjectInfo> FetchFirst(const ufs::Resolved& r, uint64_t offset, uint64_t length,
                                     Prefetched* fetched);
  // Splits `data` (pages first.. of t) into pages and offers each to the page store.
  void StorePages(const Target& t, uint64_t first, std::string&& data,
                  std::vector<std::shared_ptr<const std::string>>* out);
  Result<size_t> ReadOnce(const Target& t, uint64_t offset, std::span<char> out,
                          const Prefetched& fetched);
  // Fetches `pages` (sorted) of `t`, joining flights already under way. On return each
  // page is either in `fetched` or (if another fetch stored it) in the page store.
  Status FetchPages(const Target& t, const std::vector<uint64_t>& pages, bool wait,
                    std::unordered_map<uint64_t, std::shared_ptr<const std::string>>* fetched);
  Status FetchRun(const Target& t, uint64_t first, uint64_t count,
                  std::vector<std::shared_ptr<const std::string>>* out);
  void MaybeReadAhead(const Target& t, uint64_t offset, uint64_t end);
  // The sequential-stream bookkeeping of MaybeReadAhead for a read of [offset, end) of the
  // object `uri` of `size` bytes: the pages [first, second) to fetch ahead now, if any.
  std::optional<std::pair<uint64_t, uint64_t>> NextReadAhead(const std::string& uri,
                                                             uint64_t size, uint64_t offset,
                                                             uint64_t end);
  // Fetches pages [from, to) of `t` on a fetcher, unless the fetchers are behind.
  void StartReadAhead(const Target& t, uint64_t from, uint64_t to);
  // Forgets the metadata of `path` and the pages of its cached version and, when given,
  // of the `known` version. Returns pages dropped.
  size_t DropCached(std::string_view path, const ufs::ObjectInfo* known);
  uint64_t PageLength(const Target& t, uint64_t index) const;
  // The file id of the object at `uri`, version `version`, in pages of this cache's size.
  Hash128 FileId(std::string_view uri, std::string_view version) const {
    return pagestore::MakeFileId(uri, version, options_.page_size);
  }
  // Bytes in pages [first, first + count) of t.
  uint64_t RunLength(const Target& t, uint64_t first, uint64_t count) const;

  const CacheOptions options_;
  std::shared_ptr<ufs::MountTable> mounts_;
  std::shared_ptr<pagestore::PageStore> pages_;
  Clock* const clock_;
  MetadataCache metadata_;

  std::mutex flights_mu_;
  FlightMap flights_;  // GUARDED_BY(flights_mu_)
  std::mutex opens_mu_;
  std::unordered_map<std::string, std::shared_ptr<OpenFlight>> opens_;  // GUARDED_BY(opens_mu_)

  struct Stream {
    uint64_t next_offset = 0;  // where a sequential reader continues
    uint32_t window = 0;       // read-ahead window in pages
    uint64_t ahead_until = 0;  // first page not yet scheduled for read-ahead
  };
  std::mutex streams_mu_;
  std::unordered_map<std::string, Stream> streams_;  // GUARDED_BY(streams_mu_); by object URI

  std::atomic<uint64_t> reads_{0}, bytes_served_{0}, page_hits_{0}, page_misses_{0}, ufs_reads_{0},
      ufs_bytes_{0}, ufs_errors_{0}, single_flight_waits_{0}, readahead_pages_{0},
      version_changes_{0}, store_put_failures_{0}, truncated_fetches_{0};
  std::atomic<int64_t> last_put_warning_ns_{0};
  // The page store held pages when the engine started (a restart over a disk cache):
  // cold opens stat the object instead of fetching its first pages.
  const bool recovered_pages_;

  std::shared_ptr<PagePolicy> policy_;
  pagestore::PutOptions PutOptionsFor(const Target& t) const;

  // Declared last: destroyed first, so background fetches finish while members live.
  std::unique_ptr<ThreadPool> fetchers_;
};

}  // namespace sluice::worker
