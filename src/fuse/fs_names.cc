// SluiceFs: names — unlink and rename.
#include "fuse/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/logging.h"
#include "fuse/fs_internal.h"

namespace sluice::fuse {

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

}  // namespace sluice::fuse
