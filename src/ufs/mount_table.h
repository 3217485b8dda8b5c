// MountTable: the namespace. The root lists the mounts; "/NAME/a/b" is key "a/b" of the
// under store mounted as NAME. Mount names are one path segment of [A-Za-z0-9._-].
// Paths are normalised on resolution and can never leave their mount.
//
// A mount may also be a whole store (a StoreRoot: an S3 endpoint without a bucket, or a
// directory of buckets). Its buckets then resolve under their own names, "/BUCKET/key",
// after the named mounts; each bucket's UnderStore is opened on first use and kept.
//
// Thread-safety: all methods are thread-safe; resolution takes a shared lock.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ufs/options.h"
#include "ufs/store_root.h"
#include "ufs/under_store.h"

namespace sluice::ufs {

struct Mount {
  std::string name;
  std::string uri;
  std::shared_ptr<UnderStore> store;
};

// What a namespace path names.
struct Resolved {
  std::shared_ptr<UnderStore> store;  // null for the root
  std::string mount;                  // "" for the root
  std::string key;                    // key within the mount; "" for the mount's root
  // The URI identifying this object for cache keys: store URI + "/" + key.
  std::string ObjectUri() const;
};

// Parses "NAME=URI" (the --mount flag).
Result<std::pair<std::string, std::string>> ParseMountSpec(std::string_view spec);
Status ValidateMountName(std::string_view name);

class MountTable {
 public:
  Status Add(const std::string& name, const std::string& uri, std::shared_ptr<UnderStore> store);
  // Opens the store for `uri` and adds it.
  Status AddUri(const std::string& name, const std::string& uri, const UnderStoreOptions& options);
  Status Remove(const std::string& name);
  // Adds a whole store; its buckets resolve as top-level names.
  Status AddRoot(const std::string& name, const std::string& uri, std::shared_ptr<StoreRoot> root);
  struct Root {
    std::string name, uri;
    std::shared_ptr<StoreRoot> root;
  };
  std::vector<Root> Roots() const;
  // The root a bucket resolves from (the first whose store has it, as Resolve opens it);
  // kNotFound when none has it.
  Result<Root> RootOf(const std::string& bucket) const;
  // Forgets an opened bucket of a root (after DeleteBucket).
  void ForgetBucket(const std::string& bucket);

  // "/NAME/a/b" -> {store, "NAME", "a/b"}; "/" -> root; unknown NAME -> kNotFound;
  // escapes -> kPermissionDenied.
  Result<Resolved> Resolve(std::string_view path) const;
  // Like Resolve, but never blocks: only named mounts and buckets already opened; a bucket
  // of a store root not opened yet is kNotFound here. For I/O threads.
  Result<Resolved> ResolveCached(std::string_view path) const;
  std::vector<Mount> List() const;

 private:
  // "/NAME/a/b" -> {mount "NAME", key "a/b"} (no store), normalised.
  static Result<Resolved> SplitPath(std::string_view path);

  mutable std::shared_mutex mu_;
  std::map<std::string, Mount> mounts_;  // GUARDED_BY(mu_)
  std::vector<Root> roots_;              // GUARDED_BY(mu_)
  // Buckets of roots opened so far: name -> (store, root index).
  mutable std::map<std::string, std::shared_ptr<UnderStore>> buckets_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::ufs
