// SluiceFs: directories — listing (opendir, readdir), mkdir, rmdir.
#include "fuse/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "fuse/fs_internal.h"

namespace sluice::fuse {
namespace {

// The last path component of a listed path ("/m/a/b/" -> "b", "/m/a/x" -> "x").
std::string BaseName(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  size_t slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

}  // namespace

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

}  // namespace sluice::fuse
