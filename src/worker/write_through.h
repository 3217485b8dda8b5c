// WriteThrough: writes an object to its under store and makes it hot in the cache.
//
// An Upload streams the bytes to the under store's Writer (which does multipart upload
// for large objects) and, at the same time, to an unlinked staging file on local disk.
// Once Commit has the store's new version, the pages are offered to the page store from
// the staging file, and the metadata cache learns the new stat: the next reader of a
// checkpoint written through Sluice hits the cache. Memory stays bounded by one chunk;
// objects larger than `max_cached_object` are written through without being cached.
//
// Thread-safety: WriteThrough is thread-safe; one Upload belongs to one thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ufs/mount_table.h"
#include "worker/read_through.h"

namespace sluice::worker {

class WriteThrough;

class Upload {
 public:
  ~Upload();  // aborts if neither committed nor aborted
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;

  Status Append(std::string_view data);
  // Commits the object in the under store; then caches its pages (best effort).
  Result<ufs::ObjectInfo> Commit();
  void Abort();
  uint64_t bytes() const { return bytes_; }

 private:
  friend class WriteThrough;
  Upload(WriteThrough* owner, std::string path, std::unique_ptr<ufs::Writer> writer, int staging_fd,
         uint64_t max_staged);

  WriteThrough* owner_;
  std::string path_;
  std::unique_ptr<ufs::Writer> writer_;
  int staging_fd_;  // -1 when not caching
  uint64_t max_staged_;  // past this many bytes, stop staging (the object is not cached)
  uint64_t bytes_ = 0;
  bool done_ = false;
};

struct WriteThroughStats {
  uint64_t uploads = 0, committed = 0, aborted = 0, bytes = 0, pages_cached = 0;
};

class WriteThrough {
 public:
  // staging_dir: where staging files live (created if missing); "" disables caching on
  // write. max_cached_object: larger objects are written but not cached.
  WriteThrough(std::shared_ptr<ufs::MountTable> mounts, std::shared_ptr<ReadThroughCache> cache,
               std::string staging_dir, uint64_t max_cached_object);

  // Starts writing namespace path `path` ("/mount/key"). `size_hint` (0 if unknown)
  // lets objects too large to cache skip staging. The object keeps `headers` where its
  // store can (UnderStore::OpenWrite).
  Result<std::unique_ptr<Upload>> Begin(std::string_view path, uint64_t size_hint = 0,
                                        const ufs::ObjectHeaders& headers = {});

  // Deletes the object at `path` from its under store and forgets it in the cache.
  Status Delete(std::string_view path);

  const std::string& staging_dir() const { return staging_dir_; }
  WriteThroughStats GetStats() const;

  // Called (on the writer's thread) after every commit or delete of `path`, whatever its
  // outcome: the worker tells the other members to drop their cached stat and listings.
  // Set before the first write.
  using ChangeFn = std::function<void(const std::string& path)>;
  void OnChange(ChangeFn fn) { on_change_ = std::move(fn); }

 private:
  friend class Upload;
  std::shared_ptr<ufs::MountTable> mounts_;
  std::shared_ptr<ReadThroughCache> cache_;
  const std::string staging_dir_;
  const uint64_t max_cached_object_;
  ChangeFn on_change_;
  std::atomic<uint64_t> uploads_{0}, committed_{0}, aborted_{0}, bytes_{0}, pages_cached_{0};
};

}  // namespace sluice::worker
