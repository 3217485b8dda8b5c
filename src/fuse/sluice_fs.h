// The FUSE mount: the cluster's namespace as a POSIX directory tree (docs/fuse.md), with
// the libfuse3 low-level API, multi-threaded, over the client library.
//
// MOUNTPOINT/NAME/a/b is object a/b of mount NAME. Reads go through a per-open Reader
// (read-ahead for sequential readers, one object version per open); the kernel keeps a
// file's pages across opens (`keep_cache`) while its version is unchanged, and caches
// entries and attributes for the workers' metadata TTL. Writes (create or open with
// O_TRUNC, then write, flush/fsync/close) are staged in an unlinked local file and written
// through the cluster to the under store on flush; the object appears whole or not at all.
// What an object store cannot do fails with a clear errno: writing into an existing file
// without O_TRUNC (ENOTSUP), hard and symbolic links (ENOTSUP), chmod/chown (EPERM),
// renaming a directory (EXDEV: mv then copies). Renaming a file is a copy and a delete,
// not atomic. mkdir makes a directory that exists in this mount until a file is written
// below it, and a few seconds more (object stores have no empty directories); a directory
// whose last file was deleted is gone, and rmdir of it succeeds.
//
// Thread-safety: Run blocks; the file system serves the kernel from several threads.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "sluice/client.h"
#include "sluice/status.h"

namespace sluice::fuse {

struct MountOptions {
  std::string mountpoint;
  bool read_only = false;   // -o ro
  bool foreground = false;  // else the process detaches once mounted
  bool allow_other = false;
  int max_threads = 16;
  uint32_t max_readahead = 1 << 20;  // kernel read-ahead and largest read request
  // Entry and attribute cache time; negative: the workers' metadata TTL.
  std::chrono::milliseconds attr_timeout{-1};
  std::string staging_dir;  // where writes are staged (default: the system temp dir)
  // An open trusts the stat the cluster gave for the file (through lookup, getattr,
  // readdir or an earlier open) while it is younger than this, instead of asking the
  // cluster again: a walk that lists a directory and then reads its files costs no request
  // per file, and an object replaced through any worker is seen within this time
  // (-o open_ttl=DURATION). Negative: the attribute timeout (-o cached_open, for data that
  // does not change while mounted). Zero: every open asks.
  std::chrono::milliseconds open_ttl{1000};
  std::vector<std::string> fuse_options;  // other -o options, passed to libfuse
};

// Mounts, serves until unmounted (or SIGINT/SIGTERM/SIGHUP, which unmount cleanly) and
// returns. A stale mount left at `mountpoint` by a crashed process ("Transport endpoint
// is not connected") is detached first. Errors before mounting (no cluster, a bad mount
// point) are returned; in background mode the parent returns once mounted.
Status RunMount(const ClientOptions& client, const MountOptions& options);

// Unmounts `mountpoint` (lazily when busy and `lazy`). kNotFound when nothing is mounted.
Status Unmount(const std::string& mountpoint, bool lazy);

}  // namespace sluice::fuse
