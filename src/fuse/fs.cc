// SluiceFs: attributes, lookups, setattr, forget, statfs, and the table of operations.
#include "fuse/fs.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>

#include "common/logging.h"
#include "fuse/errno_map.h"
#include "fuse/fs_internal.h"

namespace sluice::fuse {
namespace {

SluiceFs* Fs(fuse_req_t req) { return static_cast<SluiceFs*>(fuse_req_userdata(req)); }

}  // namespace

SluiceFs::SluiceFs(MountOptions options)
    : options_(std::move(options)), uid_(getuid()), gid_(getgid()) {}

void SluiceFs::Attach(std::unique_ptr<Client> client) {
  client_ = std::move(client);
  auto ttl = options_.attr_timeout.count() >= 0 ? options_.attr_timeout : client_->MetadataTtl();
  timeout_ = std::chrono::duration<double>(ttl).count();
}

SluiceFs::~SluiceFs() = default;

int SluiceFs::OpenStaging() const {
  const std::string dir = options_.staging_dir.empty()
                              ? std::filesystem::temp_directory_path().string()
                              : options_.staging_dir;
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
  // A file system without O_TMPFILE (NFS, vfat, overlayfs before Linux 6.6): a named
  // temporary file, unlinked at once, is as anonymous.
  std::string name = dir + "/.sluice-staging-XXXXXX";
  fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return fd;
  ::unlink(name.c_str());
  static std::once_flag logged;
  std::call_once(logged, [&] {
    SLUICE_LOG_INFO("staging in {}: no O_TMPFILE there, using unlinked named files", dir);
  });
  return fd;
}

struct stat SluiceFs::AttrOf(fuse_ino_t ino, const ObjectStat& s) const {
  struct stat st {};
  st.st_ino = ino;
  st.st_uid = uid_;
  st.st_gid = gid_;
  if (s.is_dir) {
    st.st_mode = S_IFDIR | (ReadOnly() ? 0555 : 0755);
    st.st_nlink = 2;
  } else {
    st.st_mode = S_IFREG | (ReadOnly() ? 0444 : 0644);
    st.st_nlink = 1;
    st.st_size = static_cast<off_t>(s.size);
    st.st_blocks = static_cast<blkcnt_t>((s.size + 511) / 512);
  }
  st.st_blksize = 1 << 20;
  st.st_mtim.tv_sec = s.mtime_ns / 1000000000;
  st.st_mtim.tv_nsec = s.mtime_ns % 1000000000;
  st.st_atim = st.st_mtim;
  st.st_ctim = st.st_mtim;
  return st;
}

bool SluiceFs::IsLocalDir(const std::string& path) {
  auto it = local_dirs_.find(path);
  if (it == local_dirs_.end()) return false;
  if (it->second > std::chrono::steady_clock::now()) return true;
  local_dirs_.erase(it);
  return false;
}

std::optional<ObjectStat> StagedStat(const std::string& path, int staging_fd) {
  struct stat st {};
  if (::fstat(staging_fd, &st) != 0) return std::nullopt;
  ObjectStat s;
  s.path = path;
  s.size = static_cast<uint64_t>(st.st_size);
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return s;
}

Result<ObjectStat> SluiceFs::StatPath(const std::string& path) {
  if (path == "/") return DirStat("/");
  {
    std::lock_guard lock(mu_);
    if (IsLocalDir(path)) return DirStat(path);
    // (Release closes the staging file only once the handle is out of writing_.)
    if (auto it = writing_.find(path); it != writing_.end()) {
      if (auto s = StagedStat(path, it->second->staging_fd)) return *s;
    }
  }
  return client_->Stat(path);
}

void SluiceFs::Tell(fuse_ino_t ino, const ObjectStat& s) {
  if (s.is_dir) return;
  std::lock_guard lock(mu_);
  told_[ino] = {s, std::chrono::steady_clock::now()};
}

void SluiceFs::Confirm(fuse_ino_t ino, const ObjectStat& s) {
  if (s.is_dir) return;
  std::lock_guard lock(mu_);
  auto told = told_.find(ino);
  if (told == told_.end()) return;
  if (told->second.stat.version == s.version && told->second.stat.size == s.size) {
    told->second.at = std::chrono::steady_clock::now();
  } else {
    told_.erase(told);
  }
}

std::chrono::duration<double> SluiceFs::OpenTtl() const {
  if (options_.open_ttl.count() < 0) return std::chrono::duration<double>(Timeout());
  return std::min<std::chrono::duration<double>>(options_.open_ttl,
                                                 std::chrono::duration<double>(Timeout()));
}

void SluiceFs::Forget(fuse_ino_t ino, uint64_t n) {
  const std::optional<std::string> path = inodes_.Path(ino);
  inodes_.Forget(ino, n);
  if (!inodes_.Path(ino)) {
    std::lock_guard lock(mu_);
    told_.erase(ino);
    // The kernel dropped the inode and its cached pages with it: the version they were of
    // is no longer needed (kept, one entry per file ever opened grew without bound). A
    // later open of the path gets keep_cache=0, which is always safe.
    if (path) versions_.erase(*path);
  }
}

void SluiceFs::ReplyEntry(fuse_req_t req, const std::string& path, const ObjectStat& s) {
  fuse_entry_param e{};
  e.ino = inodes_.Lookup(path);
  e.attr = AttrOf(e.ino, s);
  Tell(e.ino, s);
  e.attr_timeout = Timeout();
  e.entry_timeout = Timeout();
  if (fuse_reply_entry(req, &e) != 0) inodes_.Forget(e.ino, 1);  // the request was interrupted
}

void SluiceFs::Init(fuse_conn_info* conn) {
  conn->max_readahead = options_.max_readahead;
  conn->max_read = options_.max_readahead;  // must match -o max_read
  conn->max_write = 1 << 20;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // writes go through us in order
}

// lookup: the child's stat; a missing name is a negative entry cached for the TTL.
void SluiceFs::Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto dir = inodes_.Path(parent);
  if (!dir) return (void)fuse_reply_err(req, ESTALE);
  const std::string path = ChildPath(*dir, name);
  auto st = StatPath(path);
  if (!st.ok()) {
    if (st.status().code() == StatusCode::kNotFound) {
      fuse_entry_param e{};
      e.ino = 0;
      e.entry_timeout = Timeout();
      return (void)fuse_reply_entry(req, &e);
    }
    return ReplyErr(req, st.status());
  }
  ReplyEntry(req, path, *st);
}

void SluiceFs::GetAttr(fuse_req_t req, fuse_ino_t ino) {
  auto path = inodes_.Path(ino);
  if (!path) return (void)fuse_reply_err(req, ESTALE);
  // A file open for writing whose name is gone (unlinked, or replaced by a rename): POSIX
  // answers an fstat from the open file, not from what its old name now is. (The kernel
  // sends no file handle with an fstat: orphans are kept by inode.)
  std::optional<ObjectStat> orphan;
  {
    std::lock_guard lock(mu_);  // Release takes a handle out of orphans_ before its close
    if (auto o = orphans_.find(ino); o != orphans_.end()) {
      orphan = StagedStat(*path, o->second->staging_fd);
    }
  }
  Result<ObjectStat> st = orphan ? Result<ObjectStat>(*orphan) : StatPath(*path);
  if (!st.ok()) return ReplyErr(req, st.status());
  struct stat attr = AttrOf(ino, *st);
  Tell(ino, *st);
  fuse_reply_attr(req, &attr, Timeout());
}

// setattr: only sizes of files being written (truncate) and times (ignored: objects keep
// the store's time); mode and owner changes are EPERM.
void SluiceFs::SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                       fuse_file_info* fi) {
  auto path = inodes_.Path(ino);
  if (!path) return (void)fuse_reply_err(req, ESTALE);
  // Modes and owners cannot be stored; setting the ones we report anyway (cp -p, mv) is a
  // no-op, any other is EPERM.
  if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    auto st = StatPath(*path);
    if (!st.ok()) return ReplyErr(req, st.status());
    struct stat now = AttrOf(ino, *st);
    if (((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & 07777) != (now.st_mode & 07777)) ||
        ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != uid_) ||
        ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != gid_)) {
      return (void)fuse_reply_err(req, EPERM);
    }
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    FileHandle* h = fi != nullptr ? Handle(fi) : nullptr;
    bool borrowed = false;
    if (h == nullptr) {  // truncate(path) of a file open for writing elsewhere
      std::lock_guard lock(mu_);
      auto it = writing_.find(*path);
      if (it != writing_.end()) {
        h = it->second;
        ++h->borrowers;  // a Release meanwhile does not free it under us
        borrowed = true;
      }
    }
    int err = 0;
    if (h != nullptr) {
      std::lock_guard lock(h->mu);
      if (h->staging_fd < 0) {  // released meanwhile (or opened for reading)
        err = ReadOnly() ? EROFS : ENOTSUP;
      } else if (::ftruncate(h->staging_fd, attr->st_size) != 0) {
        err = errno;
      } else {
        h->dirty = true;
        h->written = true;
      }
    }
    if (borrowed) GiveBack(h);
    if (h == nullptr) err = ReadOnly() ? EROFS : ENOTSUP;
    if (err != 0) return (void)fuse_reply_err(req, err);
  }
  GetAttr(req, ino);
}

// statfs: the cluster's capacity and use (refreshed at most every 5 s).
void SluiceFs::StatFs(fuse_req_t req) {
  std::lock_guard lock(statfs_mu_);
  auto now = std::chrono::steady_clock::now();
  if (now - statfs_at_ > std::chrono::seconds(5)) {
    uint64_t capacity = 0, used = 0;
    for (const auto& w : client_->ClusterStatus()) {
      capacity += w.capacity_bytes;
      used += w.used_bytes;
    }
    const uint64_t bs = 1 << 20;
    statfs_ = {};
    statfs_.f_bsize = bs;
    statfs_.f_frsize = bs;
    statfs_.f_blocks = capacity / bs;
    statfs_.f_bfree = capacity > used ? (capacity - used) / bs : 0;
    statfs_.f_bavail = statfs_.f_bfree;
    statfs_.f_files = 1ULL << 32;
    statfs_.f_ffree = 1ULL << 32;
    statfs_.f_namemax = 1024;
    statfs_at_ = now;
  }
  fuse_reply_statfs(req, &statfs_);
}

const fuse_lowlevel_ops* SluiceFs::Ops() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o{};
    o.init = [](void* fs, fuse_conn_info* conn) { static_cast<SluiceFs*>(fs)->Init(conn); };
    o.lookup = [](fuse_req_t r, fuse_ino_t p, const char* n) { Fs(r)->Lookup(r, p, n); };
    o.forget = [](fuse_req_t r, fuse_ino_t i, uint64_t n) {
      Fs(r)->Forget(i, n);
      fuse_reply_none(r);
    };
    o.forget_multi = [](fuse_req_t r, size_t count, fuse_forget_data* f) {
      for (size_t i = 0; i < count; ++i) Fs(r)->Forget(f[i].ino, f[i].nlookup);
      fuse_reply_none(r);
    };
    o.getattr = [](fuse_req_t r, fuse_ino_t i, fuse_file_info*) { Fs(r)->GetAttr(r, i); };
    o.setattr = [](fuse_req_t r, fuse_ino_t i, struct stat* a, int s, fuse_file_info* fi) {
      Fs(r)->SetAttr(r, i, a, s, fi);
    };
    o.opendir = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* fi) { Fs(r)->OpenDir(r, i, fi); };
    o.readdir = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* fi) {
      Fs(r)->ReadDir(r, i, s, o, fi, false);
    };
    o.readdirplus = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* fi) {
      Fs(r)->ReadDir(r, i, s, o, fi, true);
    };
    o.releasedir = [](fuse_req_t r, fuse_ino_t, fuse_file_info* fi) { Fs(r)->ReleaseDir(r, fi); };
    o.open = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* fi) { Fs(r)->Open(r, i, fi); };
    o.read = [](fuse_req_t r, fuse_ino_t, size_t s, off_t o, fuse_file_info* fi) {
      Fs(r)->Read(r, s, o, fi);
    };
    o.create = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m, fuse_file_info* fi) {
      Fs(r)->Create(r, p, n, m, fi);
    };
    o.write = [](fuse_req_t r, fuse_ino_t, const char* b, size_t s, off_t o, fuse_file_info* fi) {
      Fs(r)->Write(r, b, s, o, fi);
    };
    o.flush = [](fuse_req_t r, fuse_ino_t, fuse_file_info* fi) { Fs(r)->Flush(r, fi, true); };
    o.fsync = [](fuse_req_t r, fuse_ino_t, int, fuse_file_info* fi) {
      Fs(r)->Flush(r, fi, false);
    };
    o.release = [](fuse_req_t r, fuse_ino_t, fuse_file_info* fi) { Fs(r)->Release(r, fi); };
    o.unlink = [](fuse_req_t r, fuse_ino_t p, const char* n) { Fs(r)->Unlink(r, p, n); };
    o.mkdir = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t) { Fs(r)->MkDir(r, p, n); };
    o.rmdir = [](fuse_req_t r, fuse_ino_t p, const char* n) { Fs(r)->RmDir(r, p, n); };
    o.rename = [](fuse_req_t r, fuse_ino_t p, const char* n, fuse_ino_t np, const char* nn,
                  unsigned int f) { Fs(r)->Rename(r, p, n, np, nn, f); };
    o.statfs = [](fuse_req_t r, fuse_ino_t) { Fs(r)->StatFs(r); };
    // What an object store cannot do, said plainly (instead of ENOSYS).
    o.link = [](fuse_req_t r, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(r, ENOTSUP); };
    o.symlink = [](fuse_req_t r, const char*, fuse_ino_t, const char*) {
      fuse_reply_err(r, ENOTSUP);
    };
    o.mknod = [](fuse_req_t r, fuse_ino_t, const char*, mode_t, dev_t) {
      fuse_reply_err(r, ENOTSUP);
    };
    return o;
  }();
  return &ops;
}

}  // namespace sluice::fuse
