// UnderStore: the storage Sluice caches (an S3 bucket, a local/NFS directory, an HTTP
// origin). Keys are object keys relative to the store's root, '/'-separated, without a
// leading '/'. Every call returns a Result; a missing object is StatusCode::kNotFound.
//
// Versions: every ObjectInfo carries a version string (the ETag, or "s<size>-m<mtime>"
// where the store has none). Reads may pass the version they expect; a store that sees
// a different version fails the read with kFailedPrecondition instead of returning
// bytes of another version, so pages of two versions never mix.
//
// Thread-safety: implementations are thread-safe; one instance serves all threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/status.h"

namespace sluice::ufs {

// An object's stored HTTP headers: S3's system metadata (content-type, content-encoding,
// content-disposition, content-language, cache-control, expires) and user metadata
// (x-amz-meta-*), names lowercase, in the order stored.
using ObjectHeaders = std::vector<std::pair<std::string, std::string>>;

// Whether `name` (lowercase) is a header an object keeps: see ObjectHeaders.
bool IsStoredHeader(std::string_view name);

struct ObjectInfo {
  std::string key;  // relative to the store root; directories end without '/'
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // last modification, nanoseconds since the Unix epoch
  std::string etag;      // as the store reports it, without quotes; may be empty
  bool is_dir = false;
  // The object's stored headers, shared (an ObjectInfo is copied on every hit); null when
  // unknown (an entry from a listing, which does not carry them), empty when it has none.
  std::shared_ptr<const ObjectHeaders> headers;

  // The version string pages are keyed by: the ETag, else "s<size>-m<mtime_ns>".
  std::string Version() const;
};

struct ListOptions {
  std::string prefix;              // only keys starting with this
  std::string delimiter;           // "" lists recursively; "/" groups into common prefixes
  std::string continuation_token;  // from a previous ListPage::next_token
  std::string start_after;         // only keys after this one (lexicographic)
  int max_keys = 1000;             // at most this many objects + prefixes per page
};

struct ListPage {
  std::vector<ObjectInfo> objects;           // sorted by key
  std::vector<std::string> common_prefixes;  // each ends with the delimiter
  std::string next_token;                    // non-empty iff truncated
  bool truncated = false;
};

// What ReadWithInfo returns: the bytes and the object they were read from.
struct ReadResult {
  std::string data;
  ObjectInfo info;
};

// Streaming write of one object. Append any number of times, then Close to commit or
// Abort to discard. Nothing is visible under the key before Close succeeds. Not
// thread-safe: one writer per thread.
class Writer {
 public:
  virtual ~Writer() = default;
  virtual Status Append(std::string_view data) = 0;
  // Commits the object; returns its new info (version included).
  virtual Result<ObjectInfo> Close() = 0;
  // Discards what was written. Safe to call after a failed Append or Close.
  virtual void Abort() = 0;
};

struct UnderStoreStats {
  uint64_t stats = 0, lists = 0, reads = 0, writes = 0, deletes = 0;
  uint64_t bytes_read = 0, bytes_written = 0;
  uint64_t errors = 0, retries = 0;
};

class UnderStore {
 public:
  virtual ~UnderStore() = default;

  // The URI this store was opened with, normalised (used to derive file ids).
  virtual const std::string& Uri() const = 0;

  virtual Result<ObjectInfo> Stat(std::string_view key) = 0;
  virtual Result<ListPage> List(const ListOptions& options) = 0;

  // Reads up to `length` bytes at `offset`. Returns fewer bytes only at end of object
  // (and none at or past the end). If `expected_version` is non-empty and the object's
  // current version differs, fails with kFailedPrecondition.
  virtual Result<std::string> Read(std::string_view key, uint64_t offset, uint64_t length,
                                   std::string_view expected_version = {}) = 0;

  // A ranged read that also returns the object's info as of this read (one request
  // where the store allows it: S3/HTTP take size and ETag from the GET's headers), so a
  // cold reader pays one round trip, not a stat and a read. info.size is the whole
  // object's size. Default: Stat, then Read at the stat's version.
  virtual Result<struct ReadResult> ReadWithInfo(std::string_view key, uint64_t offset,
                                                 uint64_t length);

  // Starts a streaming write of `key`, replacing any existing object on Close. The object
  // keeps `headers` (ObjectHeaders) where the store can: S3 sends them, file:// keeps
  // them in an extended attribute, an HTTP origin is read-only.
  virtual Result<std::unique_ptr<Writer>> OpenWrite(std::string_view key,
                                                    const ObjectHeaders& headers) = 0;
  Result<std::unique_ptr<Writer>> OpenWrite(std::string_view key) { return OpenWrite(key, {}); }
  virtual Status Delete(std::string_view key) = 0;

  virtual UnderStoreStats GetStats() const = 0;
};

// Normalises an object key: strips leading '/', collapses "//" and "./", and refuses
// ".." segments, NUL bytes and over-long keys with kPermissionDenied/kInvalidArgument.
// "" (the root) is allowed.
Result<std::string> NormalizeKey(std::string_view key);

// The listing prefix of the objects below the directory `key`: "" for the root, else the
// key with one trailing '/'.
inline std::string DirPrefix(std::string_view key) {
  return key.empty() || key.back() == '/' ? std::string(key) : std::string(key) + "/";
}

}  // namespace sluice::ufs
