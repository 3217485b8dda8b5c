// SluiceFs: files — open, read, create, write, flush/fsync, release.
#include "fuse/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "common/logging.h"
#include "fuse/fs_internal.h"

namespace sluice::fuse {
namespace {

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

}  // namespace sluice::fuse
