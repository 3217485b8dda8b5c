// sluice::Client: the C++ client of a Sluice cluster. The CLI, the FUSE mount and the
// Python package are built on it.
//
// Paths are namespace paths: "/" lists the mounts, "/NAME/a/b" is object "a/b" of mount
// NAME (the same path as in the S3 API's bucket/key and under a FUSE mount point).
//
// Finding the cluster: `cluster` names one or more workers ("host:port,host:port"); the
// client asks the first that answers for the cluster's member list, ring settings and
// mounts (GET /v1/cluster) and refreshes that view every `refresh_interval`, so workers
// that join later are used. With `etcd` set, the member list comes from etcd instead
// (watched) and `cluster` is optional.
//
// Placement: every request goes to the owner the ring names for its path (block by
// block for files larger than the cluster's block size; blocks are read in parallel).
//
// Failover: a connection failure or a timeout marks a worker down for `down_time` and the
// request goes to the next replica, then the next members on the ring; when none answers
// and `ufs_fallback` is on (the default), the under store is read directly; then an error.
// Each request attempt has `request_timeout`; the whole call has `deadline`: once it has
// passed, no next worker is tried and the call fails with kDeadlineExceeded (no under-store
// fallback behind the caller's limit). Application errors (NotFound, PermissionDenied,
// ...) are returned as they are, never failed over.
//
// Thread-safety: a Client is thread-safe and meant to be shared; a Reader is not.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/status.h"

namespace sluice {

struct ClientOptions {
  std::string cluster;                  // "host:port[,host:port...]" (seeds)
  std::string etcd;                     // etcd URL; members come from there when set
  std::string etcd_cluster = "default"; // etcd key prefix /sluice/<name>/workers/
  std::string token;                    // cluster token (Authorization: Bearer)
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds request_timeout{30000};  // per attempt
  std::chrono::milliseconds deadline{120000};        // per call, all attempts
  std::chrono::milliseconds down_time{3000};         // how long a failed worker is skipped
  std::chrono::milliseconds refresh_interval{2000};  // cluster view refresh
  int max_attempts = 4;              // workers tried per request before the under store
  bool ufs_fallback = true;          // read the under store when no worker answers
  int parallelism = 8;               // concurrent block reads per call
  uint64_t chunk_size = 8 << 20;     // bytes per read request of a large read
  uint64_t readahead = 16 << 20;     // a sequential Reader fetches this far ahead
  // A memory cache of this many bytes on the client (0: none): reads of a known version
  // (Readers, ReadAll) fetch whole 1 MiB chunks and serve rereads from memory.
  uint64_t memory_cache = 0;
};

struct ObjectStat {
  std::string path;  // namespace path
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string etag;
  std::string version;
  bool is_dir = false;
};

struct ListPage {
  std::vector<ObjectStat> objects;
  std::vector<std::string> prefixes;  // "/NAME/dir/sub/"
  std::string next_token;             // empty on the last page
};

struct WorkerReport {
  std::string id;
  std::string endpoint;
  bool reachable = false;
  std::string state;  // "ready", "stopping", or the error when unreachable
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t pages = 0;
  double hit_ratio = 0;
  uint64_t ufs_reads = 0;
  uint64_t ufs_bytes = 0;
  std::string json;  // the worker's whole /v1/status answer
};

struct WorkerAnswer {
  std::string id;        // the member's id
  std::string endpoint;
  Status status;         // not OK: unreachable, or the worker's error
  std::string json;      // the answer, when status is OK
};

struct ClientStats {
  uint64_t requests = 0;
  uint64_t failovers = 0;      // attempts moved to another worker
  uint64_t ufs_fallbacks = 0;  // reads served by the under store directly
  uint64_t memory_cache_hits = 0;
  uint64_t memory_cache_misses = 0;
};

class Client;

// A sequential-friendly reader of one object version (pinned at Open). Read continues
// where the last read ended; after two sequential reads it prefetches `readahead` bytes.
class Reader {
 public:
  virtual ~Reader() = default;
  virtual const ObjectStat& stat() const = 0;
  // Reads up to out.size() bytes at the current position; 0 at the end.
  virtual Result<size_t> Read(std::span<char> out) = 0;
  // Reads at `offset` without moving the position.
  virtual Result<size_t> ReadAt(uint64_t offset, std::span<char> out) = 0;
  virtual void Seek(uint64_t offset) = 0;
  virtual uint64_t Tell() const = 0;
};

class Client {
 public:
  // Connects: resolves the cluster view (fails with a clear kUnavailable naming what was
  // tried when no worker answers, or kInvalidArgument for a malformed address).
  static Result<std::unique_ptr<Client>> Connect(ClientOptions options);
  virtual ~Client() = default;

  virtual Result<ObjectStat> Stat(const std::string& path) = 0;
  // One page of a listing; `delimiter` "" lists recursively.
  virtual Result<ListPage> List(const std::string& path, const std::string& delimiter = "/",
                                const std::string& token = "", int max_keys = 1000) = 0;
  // Reads [offset, offset + out.size()) of `path` (clamped at the end of the object) into
  // out; returns the bytes read. Large reads go block by block to their owners in parallel.
  virtual Result<size_t> Read(const std::string& path, uint64_t offset, std::span<char> out) = 0;
  // The whole object.
  virtual Result<std::string> ReadAll(const std::string& path) = 0;
  virtual Result<std::unique_ptr<Reader>> Open(const std::string& path) = 0;
  // Opens at a version the caller already knows (from a stat or a listing): no request.
  // Reads fail with kFailedPrecondition if the object has another version by then.
  virtual std::unique_ptr<Reader> Open(const ObjectStat& known) = 0;
  // Writes an object through the cluster (write-through to the under store). `source`
  // fills the buffer it is given and returns the bytes written, 0 at the end. A streamed
  // attempt ends once no byte moved for `request_timeout` (kDeadlineExceeded), however long
  // the whole upload takes; once `source` was read from, it is not failed over, and no
  // next owner is tried once `deadline` passed.
  using Source = std::function<Result<size_t>(std::span<char>)>;
  virtual Result<ObjectStat> Write(const std::string& path, uint64_t size, Source source) = 0;
  // As above, for bytes that can be read again from the start (a file): each attempt gets
  // a fresh Source from `sources`, so a worker that fails mid-upload (killed, busy) does
  // not fail the write: it goes to the next owner, as a buffer's would.
  virtual Result<ObjectStat> Write(const std::string& path, uint64_t size,
                                   const std::function<Source()>& sources) = 0;
  virtual Result<ObjectStat> Write(const std::string& path, std::string_view data) = 0;
  virtual Status Delete(const std::string& path) = 0;
  // Drops cached pages and metadata of `path` (an object or a directory) on every worker.
  // Returns the pages dropped; when some workers could not be reached, the others are
  // freed still and the error (kUnavailable) names the ones that were not.
  virtual Result<uint64_t> Free(const std::string& path) = 0;
  // Asks the cluster to load `paths` into its cache in the background, in the order given:
  // each path goes to its owner (POST /v1/prefetch), which loads the object (the blocks it
  // owns, for a file larger than the block size) on its prefetch threads. Returns once the
  // owners have queued them, not loaded them. A worker whose queue is full drops the rest
  // (counted in its metrics); an unreachable owner is skipped. For epoch-aware prefetch.
  virtual Status Prefetch(const std::vector<std::string>& paths) = 0;
  // Sends one /v1 control request (`method` /v1/`op`?path=`path``query`, with `body`) to
  // every current member at once; one answer per member, in member order. For the
  // cluster-wide operations (load jobs, pins) that each worker does for its own part.
  virtual std::vector<WorkerAnswer> Broadcast(const std::string& method, const std::string& op,
                                              const std::string& path,
                                              const std::string& query = "",
                                              std::string_view body = {}) = 0;
  // Every member's /v1/status (unreachable ones reported as such, not as an error).
  virtual std::vector<WorkerReport> ClusterStatus() = 0;
  // The endpoints of the current members.
  virtual std::vector<std::string> Workers() = 0;
  // How long the workers trust a cached stat (their metadata_ttl): what the FUSE mount
  // lets the kernel cache entries and attributes for.
  virtual std::chrono::milliseconds MetadataTtl() = 0;
  virtual ClientStats Stats() const = 0;
};

}  // namespace sluice
