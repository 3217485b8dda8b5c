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
#include <set>

#include <fmt/format.h>

#include "common/logging.h"
#include "fuse/errno_map.h"

namespace sluice::fuse {
namespace {

constexpr std::chrono::seconds kLocalDirGrace{10};

SluiceFs* Fs(fuse_req_t req) { return static_cast<SluiceFs*>(fuse_req_userdata(req)); }
FileHandle* Handle(fuse_file_info* fi) { return reinterpret_cast<FileHandle*>(fi->fh); }

void ReplyErr(fuse_req_t req, const Status& s) { fuse_reply_err(req, ErrnoOf(s)); }

// The last path component of a listed path ("/m/a/b/" -> "b", "/m/a/x" -> "x").
std::string BaseName(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  size_t slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

ObjectStat DirStat(const std::string& path) {
  ObjectStat s;
  s.path = path;
  s.is_dir = true;
  return s;
}

// Reads a whole staging file from the start, for the upload.
Client::Source StagingSource(int fd) {
  auto offset = std::make_shared<off_t>(0);
  return [fd, offset](std::span<char> out) -> Result<size_t> {
    ssize_t n = ::pread(fd, out.data(), out.size(), *offset);
    if (n < 0) return Status::IoError(fmt::format("staging file: {}", strerror(errno)));
    *offset += n;
    return static_cast<size_t>(n);
  };
}

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

namespace {

// The stat of a file being written: its staging file's size and mtime.
std::optional<ObjectStat> StagedStat(const std::string& path, int staging_fd) {
  struct stat st {};
  if (::fstat(staging_fd, &st) != 0) return std::nullopt;
  ObjectStat s;
  s.path = path;
  s.size = static_cast<uint64_t>(st.st_size);
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return s;
}

}  // namespace

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

Result<std::vector<SluiceFs::DirEntry>> SluiceFs::ListDir(const std::string& path) {
  std::vector<DirEntry> out;
  std::string token;
  do {
    SLUICE_ASSIGN_OR_RETURN(auto page, client_->List(path, "/", token, 1000));
    for (const auto& p : page.prefixes) out.push_back({BaseName(p), DirStat(p)});
    for (const auto& o : page.objects) {
      if (o.path.ends_with('/')) continue;  // an S3 "dir/" marker: the directory itself
      std::string name = BaseName(o.path);
      if (!name.empty()) out.push_back({name, o});
    }
    token = page.next_token;
  } while (!token.empty());
  // A key that is also a prefix ("x/b" and "x/b/c"): one entry, the file, as a lookup of
  // it finds (its stat is one HEAD, which finds the object). Two entries of one name and
  // one inode, a file and a directory, made the kernel mark the inode bad (EIO).
  std::set<std::string> files;
  for (const auto& e : out) {
    if (!e.stat.is_dir) files.insert(e.name);
  }
  std::erase_if(out, [&](const DirEntry& e) { return e.stat.is_dir && files.count(e.name); });
  std::lock_guard lock(mu_);
  const std::string dir = path == "/" ? "/" : path + "/";
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(local_dirs_, [&](const auto& d) { return d.second <= now; });
  for (const auto& [d, until] : local_dirs_) {
    if (d.starts_with(dir) && d.find('/', dir.size()) == std::string::npos) {
      std::string name = d.substr(dir.size());
      if (std::none_of(out.begin(), out.end(), [&](const auto& e) { return e.name == name; })) {
        out.push_back({name, DirStat(d)});
      }
    }
  }
  // Files being written through this mount are listed as stat shows them (staged).
  for (auto it = writing_.lower_bound(dir); it != writing_.end() && it->first.starts_with(dir);
       ++it) {
    if (it->first.find('/', dir.size()) != std::string::npos) continue;
    std::string name = it->first.substr(dir.size());
    auto staged = StagedStat(it->first, it->second->staging_fd);
    if (!staged) continue;
    auto e = std::find_if(out.begin(), out.end(), [&](const auto& x) { return x.name == name; });
    if (e == out.end()) {
      out.push_back({name, *staged});
    } else if (!e->stat.is_dir) {
      e->stat = *staged;
    }
  }
  return out;
}

// opendir: the whole listing, page by page, held by the handle (readdir offsets index it).
void SluiceFs::OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto path = inodes_.Path(ino);
  if (!path) return (void)fuse_reply_err(req, ESTALE);
  auto entries = ListDir(*path);
  if (!entries.ok()) return ReplyErr(req, entries.status());
  auto* d = new DirHandle{std::move(entries).value()};
  fi->fh = reinterpret_cast<uint64_t>(d);
  fi->cache_readdir = 0;
  if (fuse_reply_open(req, fi) != 0) delete d;
}

void SluiceFs::ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       fuse_file_info* fi, bool plus) {
  auto* d = reinterpret_cast<DirHandle*>(fi->fh);
  auto path = inodes_.Path(ino);
  if (!path) return (void)fuse_reply_err(req, ESTALE);
  std::string buf(size, '\0');
  size_t used = 0;
  // Offsets: 0 ".", 1 "..", 2 + i entries[i]; each entry records the next offset.
  for (off_t i = off; i < static_cast<off_t>(d->entries.size()) + 2; ++i) {
    std::string name;
    ObjectStat st;
    if (i == 0) {
      name = ".";
      st = DirStat(*path);
    } else if (i == 1) {
      name = "..";
      st = DirStat("/");
    } else {
      name = d->entries[i - 2].name;
      st = d->entries[i - 2].stat;
    }
    size_t n;
    if (plus) {
      fuse_entry_param e{};
      bool real = i >= 2;
      std::string child = real ? ChildPath(*path, name.c_str()) : "";
      e.ino = real ? inodes_.Lookup(child) : (i == 0 ? ino : kRootInode);
      e.attr = AttrOf(e.ino, st);
      e.attr_timeout = Timeout();
      e.entry_timeout = real ? Timeout() : 0;
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, name.c_str(), &e, i + 1);
      if (n > size - used) {
        if (real) inodes_.Forget(e.ino, 1);  // not returned: the kernel holds no reference
        break;
      }
      if (real) Tell(e.ino, st);
    } else {
      // A real inode number: readdir(3) skips entries whose d_ino is 0. The kernel takes
      // no reference here, so known paths give their number and others a stable one.
      fuse_ino_t child_ino = i == 0 ? ino : i == 1 ? kRootInode
                                      : inodes_.Peek(ChildPath(*path, name.c_str()));
      if (i >= 2) Confirm(child_ino, st);
      struct stat attr = AttrOf(child_ino, st);
      n = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &attr, i + 1);
      if (n > size - used) break;
    }
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void SluiceFs::ReleaseDir(fuse_req_t req, fuse_file_info* fi) {
  delete reinterpret_cast<DirHandle*>(fi->fh);
  fuse_reply_err(req, 0);
}

// open: reads get a Reader pinned to the current version; the kernel keeps its cached
// pages (keep_cache) only when that version is the one it cached last time. When the size
// the kernel caches is not that version's, its attributes are dropped, so that it reads the
// whole version (an older size would cut the new bytes short). Writing needs
// O_TRUNC (a whole new object): writing into an existing object is ENOTSUP.
void SluiceFs::Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto path = inodes_.Path(ino);
  if (!path) return (void)fuse_reply_err(req, ESTALE);
  auto h = std::make_unique<FileHandle>();
  h->path = *path;
  h->ino = ino;
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    if (ReadOnly()) return (void)fuse_reply_err(req, EROFS);
    if (!(fi->flags & O_TRUNC)) return (void)fuse_reply_err(req, ENOTSUP);
    h->staging_fd = OpenStaging();
    if (h->staging_fd < 0) return (void)fuse_reply_err(req, errno);
    h->dirty = true;  // even an empty file replaces the object
    fi->direct_io = 1;
    std::lock_guard lock(mu_);
    writing_[*path] = h.get();
  } else if (int fd = DupStaging(*path); fd >= 0) {
    // Being written through this mount (a log, a checkpoint not closed yet): read what is
    // staged, as stat shows it, straight from the staging file; nothing cached.
    h->staging_fd = fd;
    fi->direct_io = 1;
  } else {
    // An open trusts the stat the cluster gave for this file within open_ttl (1 s by
    // default: a walk lists a directory, then reads its files, with no request per file);
    // an older one is checked with the cluster (one small request), so an object replaced
    // through any worker is seen within open_ttl. With -o cached_open the window is the
    // attribute timeout: for data sets that do not change while mounted.
    bool stale_size = false;
    std::optional<ObjectStat> known;
    if (options_.open_ttl.count() != 0) {
      std::lock_guard lock(mu_);
      auto told = told_.find(ino);
      if (told != told_.end() && !told->second.stat.version.empty() &&
          std::chrono::steady_clock::now() - told->second.at < OpenTtl()) {
        known = told->second.stat;
      }
    }
    if (known) {
      h->reader = client_->Open(*known);
    } else {
      auto reader = client_->Open(*path);
      if (!reader.ok()) return ReplyErr(req, reader.status());
      h->reader = std::move(reader).value();
      std::lock_guard lock(mu_);
      auto told = told_.find(ino);
      stale_size = told == told_.end() || told->second.stat.size != h->reader->stat().size;
      if (told != told_.end()) told->second = {h->reader->stat(), std::chrono::steady_clock::now()};
    }
    {
      std::lock_guard lock(mu_);
      const std::string& v = h->reader->stat().version;
      auto& open = open_versions_[ino];
      const bool mixed = std::any_of(open.begin(), open.end(), [&](const auto& o) { return o != v; });
      open.push_back(v);
      auto& seen = versions_[*path];
      if (mixed) {
        // Another handle still reads another version of this inode, and what it reads
        // fills the page cache every handle shares: this one bypasses the cache, and no
        // version is trusted there until those handles are gone.
        fi->direct_io = 1;
        fi->keep_cache = 0;
        seen.clear();
      } else {
        fi->keep_cache = seen == v ? 1 : 0;
        seen = v;
      }
    }
    // Attributes only (offset < 0): the first read asks getattr for the size.
    if (stale_size && session_ != nullptr) {
      (void)fuse_lowlevel_notify_inval_inode(session_, ino, -1, 0);
    }
  }
  FileHandle* raw = h.release();
  fi->fh = reinterpret_cast<uint64_t>(raw);
  if (fuse_reply_open(req, fi) != 0) {
    std::lock_guard lock(mu_);
    if (auto it = writing_.find(raw->path); it != writing_.end() && it->second == raw) {
      writing_.erase(it);
    }
    if (auto o = orphans_.find(raw->ino); o != orphans_.end() && o->second == raw) orphans_.erase(o);
    if (raw->reader != nullptr) ForgetOpenVersion(raw->ino, raw->reader->stat().version);
    if (raw->staging_fd >= 0) ::close(raw->staging_fd);
    delete raw;
  }
}

int SluiceFs::DupStaging(const std::string& path) {
  std::lock_guard lock(mu_);  // Release takes a handle out of writing_ before its close
  auto it = writing_.find(path);
  if (it == writing_.end() || it->second->staging_fd < 0) return -1;
  return ::fcntl(it->second->staging_fd, F_DUPFD_CLOEXEC, 0);
}

// read: a sequential reader continues its Reader (which reads ahead); others read at
// their offset. One handle's reads are served one at a time.
void SluiceFs::Read(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi) {
  FileHandle* h = Handle(fi);
  thread_local std::string buf;
  if (buf.size() < size) buf.resize(size);
  std::lock_guard lock(h->mu);
  if (h->staging_fd >= 0) {
    ssize_t n = ::pread(h->staging_fd, buf.data(), size, off);
    if (n < 0) return (void)fuse_reply_err(req, errno);
    return (void)fuse_reply_buf(req, buf.data(), static_cast<size_t>(n));
  }
  auto n = ReadInto(h, static_cast<uint64_t>(off), std::span<char>(buf.data(), size));
  if (!n.ok() && n.status().Is(StatusCode::kFailedPrecondition) && !h->served) {
    // Opened at the version the kernel was told, which has changed since; nothing was
    // served from it yet: open the current version, and make the kernel forget the old
    // size (attributes only: invalidating pages from inside a read would wait on the
    // pages this very read holds) and not keep this file's pages at the next open.
    auto fresh = client_->Open(h->path);
    if (!fresh.ok()) return ReplyErr(req, fresh.status());
    {
      std::lock_guard l(mu_);
      ForgetOpenVersion(h->ino, h->reader->stat().version);
      open_versions_[h->ino].push_back(fresh.value()->stat().version);
      versions_.erase(h->path);  // the kernel's pages may be the old version's
      told_.erase(h->ino);
    }
    h->reader = std::move(fresh).value();
    if (session_ != nullptr) (void)fuse_lowlevel_notify_inval_inode(session_, h->ino, -1, 0);
    n = ReadInto(h, static_cast<uint64_t>(off), std::span<char>(buf.data(), size));
  }
  if (!n.ok()) return ReplyErr(req, n.status());
  h->served = true;
  fuse_reply_buf(req, buf.data(), *n);
}

// A sequential reader continues its Reader (which reads ahead); others read at their
// offset. REQUIRES: h->mu.
Result<size_t> SluiceFs::ReadInto(FileHandle* h, uint64_t off, std::span<char> out) {
  size_t done = 0;
  if (off == h->next_offset) {
    h->reader->Seek(off);
    while (done < out.size()) {
      SLUICE_ASSIGN_OR_RETURN(size_t n, h->reader->Read(out.subspan(done)));
      if (n == 0) break;
      done += n;
    }
  } else {
    SLUICE_ASSIGN_OR_RETURN(done, h->reader->ReadAt(off, out));
  }
  h->next_offset = off + done;
  return done;
}

void SluiceFs::Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                      fuse_file_info* fi) {
  if (ReadOnly()) return (void)fuse_reply_err(req, EROFS);
  if (!S_ISREG(mode)) return (void)fuse_reply_err(req, ENOTSUP);
  auto dir = inodes_.Path(parent);
  if (!dir) return (void)fuse_reply_err(req, ESTALE);
  if (*dir == "/") return (void)fuse_reply_err(req, EACCES);  // the root holds mounts only
  const std::string path = ChildPath(*dir, name);
  auto h = std::make_unique<FileHandle>();
  h->path = path;
  h->staging_fd = OpenStaging();
  if (h->staging_fd < 0) return (void)fuse_reply_err(req, errno);
  h->dirty = true;
  fi->direct_io = 1;
  fuse_entry_param e{};
  e.ino = inodes_.Lookup(path);
  h->ino = e.ino;  // what an upload's bookkeeping and an fstat after unlink go by
  FileHandle* raw = h.release();
  fi->fh = reinterpret_cast<uint64_t>(raw);
  {
    std::lock_guard lock(mu_);
    writing_[path] = raw;
    versions_.erase(path);
  }
  ObjectStat st;
  st.path = path;
  st.mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  e.attr = AttrOf(e.ino, st);
  e.attr_timeout = 0;  // the size grows while written
  e.entry_timeout = Timeout();
  if (fuse_reply_create(req, &e, fi) != 0) {
    inodes_.Forget(e.ino, 1);
    std::lock_guard lock(mu_);
    writing_.erase(path);
    ::close(raw->staging_fd);
    delete raw;
  }
}

// write: into the staging file, at any offset (the file is new: random writes are fine).
void SluiceFs::Write(fuse_req_t req, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  FileHandle* h = Handle(fi);
  if (h->staging_fd < 0) return (void)fuse_reply_err(req, EBADF);
  std::lock_guard lock(h->mu);
  ssize_t n = ::pwrite(h->staging_fd, buf, size, off);
  if (n < 0) return (void)fuse_reply_err(req, errno);
  h->dirty = true;
  h->written = true;
  h->flush_failed = false;
  fuse_reply_write(req, static_cast<size_t>(n));
}

// Writes the staged bytes through the cluster (one new object version). REQUIRES: h->mu.
Status SluiceFs::Upload(FileHandle* h) {
  if (h->staging_fd < 0 || !h->dirty || h->unlinked) return Status::OK();
  struct stat st {};
  if (::fstat(h->staging_fd, &st) != 0) return Status::IoError(strerror(errno));
  // The staging file can be read again from its start: a worker that dies mid-upload
  // does not lose the file (a checkpoint's close fails over to the next owner).
  const int fd = h->staging_fd;
  auto r = client_->Write(h->path, static_cast<uint64_t>(st.st_size),
                          std::function<Client::Source()>([fd] { return StagingSource(fd); }));
  if (!r.ok()) {
    SLUICE_LOG_WARN("writing {} failed: {}", h->path, r.status().ToString());
    return r.status();
  }
  h->dirty = false;
  if (h->unlinked) {
    // Unlinked while this upload ran (its stat found nothing yet): the name is gone, and
    // the object the upload just made goes with it — unless the name is someone else's
    // by now (a new file written there, a rename onto it), or the object another version.
    bool ours = false;
    {
      std::lock_guard lock(mu_);
      ours = writing_.find(h->path) == writing_.end();
    }
    auto now = ours ? client_->Stat(h->path) : Result<ObjectStat>(Status::NotFound(""));
    if (now.ok() && now->version == r->version) {
      Status gone = client_->Delete(h->path);
      if (!gone.ok() && !gone.Is(StatusCode::kNotFound)) return gone;
    }
    return Status::OK();
  }
  std::string parent = h->path.substr(0, h->path.rfind('/'));
  std::lock_guard lock(mu_);
  versions_[h->path] = r->version;
  told_.erase(h->ino);  // this mount's own write: the next open asks for the new version
  // The directory now exists in the store: it is remembered only while the other members
  // learn so.
  const auto until = std::chrono::steady_clock::now() + kLocalDirGrace;
  for (std::string d = parent; !d.empty() && d != "/"; d = d.substr(0, d.rfind('/'))) {
    auto it = local_dirs_.find(d);
    if (it != local_dirs_.end()) it->second = std::min(it->second, until);
  }
  return Status::OK();
}

// flush (every close) and fsync: the object is written through now; its errors reach close.
void SluiceFs::Flush(fuse_req_t req, fuse_file_info* fi, bool closing) {
  FileHandle* h = Handle(fi);
  std::lock_guard lock(h->mu);
  // A close before anything was written (a shell's `cmd > file` closes its copy of the
  // descriptor first) uploads nothing: an empty file is written at release if it stays so.
  if (!h->written) return (void)fuse_reply_err(req, 0);
  const Status s = Upload(h);
  h->flush_failed = !s.ok();
  h->closed = closing && s.ok();
  fuse_reply_err(req, ErrnoOf(s));
}

void SluiceFs::ForgetOpenVersion(fuse_ino_t ino, const std::string& version) {
  auto it = open_versions_.find(ino);
  if (it == open_versions_.end()) return;
  if (auto v = std::find(it->second.begin(), it->second.end(), version); v != it->second.end()) {
    it->second.erase(v);
  }
  if (it->second.empty()) open_versions_.erase(it);
}

void SluiceFs::Release(fuse_req_t req, fuse_file_info* fi) {
  FileHandle* h = Handle(fi);
  if (h->reader != nullptr && h->staging_fd < 0) {
    std::lock_guard lock(mu_);
    ForgetOpenVersion(h->ino, h->reader->stat().version);
  }
  {
    std::lock_guard lock(h->mu);
    // Normally done by flush already. After a failed flush the application was told
    // (close returned the error): writing the bytes now, unseen, could overwrite what it
    // did next. A file never written (touch) is written here; its error only logged.
    if (!h->flush_failed) (void)Upload(h);
    if (h->staging_fd >= 0) {
      {
        std::lock_guard l(mu_);  // before the close: StatPath reads the staging file's size
        if (auto it = writing_.find(h->path); it != writing_.end() && it->second == h) {
          writing_.erase(it);
        }
        if (auto o = orphans_.find(h->ino); o != orphans_.end() && o->second == h) {
          orphans_.erase(o);
        }
      }
      ::close(h->staging_fd);
      h->staging_fd = -1;
    }
  }
  {
    std::lock_guard lock(mu_);
    if (h->borrowers > 0) {  // the last borrower deletes it
      h->released = true;
      h = nullptr;
    }
  }
  delete h;
  fuse_reply_err(req, 0);
}

void SluiceFs::GiveBack(FileHandle* h) {
  {
    std::lock_guard lock(mu_);
    if (--h->borrowers > 0 || !h->released) return;
  }
  delete h;  // released while lent: its Release left this to us
}

void SluiceFs::Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (ReadOnly()) return (void)fuse_reply_err(req, EROFS);
  auto dir = inodes_.Path(parent);
  if (!dir) return (void)fuse_reply_err(req, ESTALE);
  const std::string path = ChildPath(*dir, name);
  bool was_writing = false;  // a file being written through this mount loses its name now
  {
    std::lock_guard lock(mu_);
    if (auto w = writing_.find(path); w != writing_.end()) {
      w->second->unlinked = true;
      orphans_[w->second->ino] = w->second;
      writing_.erase(w);
      was_writing = true;
    }
  }
  auto st = client_->Stat(path);
  if (!st.ok()) {
    // Not in the store yet (never flushed): gone with its name.
    if (was_writing && st.status().Is(StatusCode::kNotFound)) return (void)fuse_reply_err(req, 0);
    return ReplyErr(req, st.status());
  }
  if (st->is_dir) return (void)fuse_reply_err(req, EISDIR);
  Status s = client_->Delete(path);
  // The writer's upload, seeing its name gone, may have deleted it first.
  if (was_writing && s.Is(StatusCode::kNotFound)) s = Status::OK();
  {
    std::lock_guard lock(mu_);
    versions_.erase(path);
  }
  fuse_reply_err(req, ErrnoOf(s));
}

// mkdir: remembered in this mount until a file is written below it.
void SluiceFs::MkDir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (ReadOnly()) return (void)fuse_reply_err(req, EROFS);
  auto dir = inodes_.Path(parent);
  if (!dir) return (void)fuse_reply_err(req, ESTALE);
  if (*dir == "/") return (void)fuse_reply_err(req, EACCES);  // mounts come from the cluster
  const std::string path = ChildPath(*dir, name);
  if (auto st = StatPath(path); st.ok()) return (void)fuse_reply_err(req, EEXIST);
  {
    std::lock_guard lock(mu_);
    local_dirs_[path] = std::chrono::steady_clock::time_point::max();
  }
  ReplyEntry(req, path, DirStat(path));
}

void SluiceFs::RmDir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (ReadOnly()) return (void)fuse_reply_err(req, EROFS);
  auto dir = inodes_.Path(parent);
  if (!dir) return (void)fuse_reply_err(req, ESTALE);
  const std::string path = ChildPath(*dir, name);
  auto st = StatPath(path);
  if (!st.ok()) {
    if (st.status().code() != StatusCode::kNotFound) return ReplyErr(req, st.status());
    // The kernel knows this directory, but the store dropped it with its last file (rm -r
    // and mv delete the files first): it is gone, as asked.
    std::lock_guard lock(mu_);
    local_dirs_.erase(path);
    return (void)fuse_reply_err(req, 0);
  }
  if (!st->is_dir) return (void)fuse_reply_err(req, ENOTDIR);
  auto empty = IsEmptyDir(path);
  if (!empty.ok()) return ReplyErr(req, empty.status());
  if (!*empty) return (void)fuse_reply_err(req, ENOTEMPTY);
  std::lock_guard lock(mu_);
  local_dirs_.erase(path);
  fuse_reply_err(req, 0);
}

// A member's cached listing may still name objects just deleted through another member
// (the others hear of a delete in the background: rm -r would see ENOTEMPTY), so what a
// listing names is checked with its owner before the directory counts as non-empty.
Result<bool> SluiceFs::IsEmptyDir(const std::string& path) {
  SLUICE_ASSIGN_OR_RETURN(auto entries, ListDir(path));
  for (const auto& e : entries) {
    const std::string child = ChildPath(path, e.name.c_str());
    if (e.stat.is_dir) {
      {
        std::lock_guard lock(mu_);
        if (IsLocalDir(child)) return false;
      }
      SLUICE_ASSIGN_OR_RETURN(bool empty, IsEmptyDir(child));
      if (!empty) return false;
    } else if (auto st = StatPath(child); st.ok()) {
      return false;
    } else if (st.status().code() != StatusCode::kNotFound) {
      return st.status();
    }
  }
  return true;
}

// rename: files only, as a copy through the cluster and a delete (not atomic); a
// directory is EXDEV, so mv falls back to copying its files.
void SluiceFs::Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                      const char* newname, unsigned int flags) {
  if (ReadOnly()) return (void)fuse_reply_err(req, EROFS);
  if (flags != 0) return (void)fuse_reply_err(req, EINVAL);  // RENAME_NOREPLACE / EXCHANGE
  auto from_dir = inodes_.Path(parent);
  auto to_dir = inodes_.Path(newparent);
  if (!from_dir || !to_dir) return (void)fuse_reply_err(req, ESTALE);
  const std::string from = ChildPath(*from_dir, name), to = ChildPath(*to_dir, newname);
  // A file still being written (`write tmp; rename(tmp, dst)` before close, or after an
  // fsync): the open file takes the new name, and its upload at close goes there.
  FileHandle* h = nullptr;
  {
    std::lock_guard lock(mu_);
    if (auto it = writing_.find(from); it != writing_.end()) {
      h = it->second;
      ++h->borrowers;  // a Release meanwhile does not free it under us
    }
  }
  if (h != nullptr) {
    int err = RenameWriting(h, from, to);
    GiveBack(h);
    // > 0: an errno; 0: done; < 0: nothing left to upload (closed, the release still on its
    // way): the object at `from` is renamed as any other, below.
    if (err >= 0) return (void)fuse_reply_err(req, err);
  }
  auto st = StatPath(from);
  if (!st.ok()) return ReplyErr(req, st.status());
  if (st->is_dir) return (void)fuse_reply_err(req, EXDEV);
  auto reader = client_->Open(from);
  if (!reader.ok()) return ReplyErr(req, reader.status());
  Reader* r = reader->get();
  auto copied = client_->Write(to, r->stat().size, [r](std::span<char> out) { return r->Read(out); });
  if (!copied.ok()) return ReplyErr(req, copied.status());
  Status s = client_->Delete(from);
  if (!s.ok()) return ReplyErr(req, s);
  inodes_.Rename(from, to);
  {
    std::lock_guard lock(mu_);
    versions_.erase(from);
    versions_[to] = copied->version;
    // What the kernel was told of the moved inode names the old, now deleted, path: the
    // next open must stat the new one.
    std::erase_if(told_, [&](const auto& t) { return t.second.stat.path == from; });
  }
  fuse_reply_err(req, 0);
}

int SluiceFs::RenameWriting(FileHandle* h, const std::string& from, const std::string& to) {
  std::lock_guard hl(h->mu);  // waits for an upload under way (a flush) to end
  // Closed and flushed (`write; close; rename`: the release comes after, in the
  // background), or released meanwhile: the bytes are in the store, nothing here moves.
  // (After an fsync, with the file still open, the open file moves.)
  if (h->staging_fd < 0 || (h->closed && !h->dirty)) return -1;
  {
    std::lock_guard lock(mu_);
    auto it = writing_.find(from);
    if (it == writing_.end() || it->second != h) return -1;
    writing_.erase(it);
    if (auto other = writing_.find(to); other != writing_.end()) {
      other->second->unlinked = true;  // replaced: that open file loses its name
      orphans_[other->second->ino] = other->second;
      writing_.erase(other);
    }
    writing_[to] = h;
    h->path = to;
    h->dirty = true;  // the bytes belong at `to` now, flushed or not
    versions_.erase(from);
    versions_.erase(to);
    std::erase_if(told_, [&](const auto& t) {
      return t.second.stat.path == from || t.second.stat.path == to;
    });
  }
  inodes_.Rename(from, to);
  // What an earlier flush wrote at `from`, or the object an O_TRUNC open was replacing:
  // the old name is gone (nothing there, a file never flushed: fine).
  Status s = client_->Delete(from);
  if (!s.ok() && !s.Is(StatusCode::kNotFound)) {
    SLUICE_LOG_WARN("rename {} -> {}: the old name stays in the store: {}", from, to,
                    s.ToString());
    return ErrnoOf(s);
  }
  return 0;
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
