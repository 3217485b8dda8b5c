// SluiceFs: the state behind the low-level FUSE operations (fs.cc, fs_dir.cc, fs_file.cc,
// fs_names.cc: see fs_internal.h); internal to src/fuse.
// The operations themselves are static trampolines in fs.cc that find this object through
// fuse_req_userdata.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <unordered_map>

#include "fuse/inode_table.h"
#include "fuse/sluice_fs.h"
#include "sluice/client.h"

namespace sluice::fuse {

// An open file: a Reader for reads, or a staging file for writes.
struct FileHandle {
  std::mutex mu;
  std::string path;
  std::unique_ptr<Reader> reader;
  fuse_ino_t ino = 0;
  uint64_t next_offset = 0;  // where a sequential reader's next read starts
  bool served = false;       // a read was answered from this handle's version
  int staging_fd = -1;       // >= 0: a file being written
  bool dirty = false;        // staged bytes not yet written through
  bool written = false;      // write or truncate called since open
  // The last flush's upload failed and close reported it: release does not write the
  // bytes anyway, behind the application's back (a later write or fsync clears it).
  bool flush_failed = false;
  // A close (flush) uploaded every byte, and nothing was written since: what a rename
  // before the release (which comes after close, in the background) finds.
  bool closed = false;
  // Lent out of writing_ to an operation without a file handle (truncate by path):
  // GUARDED_BY(SluiceFs::mu_). Release leaves the deleting to the last borrower.
  int borrowers = 0;
  bool released = false;
  // Unlinked while being written: the bytes stay readable through this handle, but
  // nothing is written through (POSIX: the name is gone, the open file lives on).
  std::atomic<bool> unlinked{false};
};

class SluiceFs {
 public:
  explicit SluiceFs(MountOptions options);
  ~SluiceFs();
  // The client, once connected (after the process detached; before the loop serves).
  void Attach(std::unique_ptr<Client> client);
  // The session the file system serves (for notifications to the kernel), once created.
  void SetSession(fuse_session* se) { session_ = se; }
  static const fuse_lowlevel_ops* Ops();

  // The operations (see fs*.cc for each one's contract).
  void Init(fuse_conn_info* conn);
  void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void Forget(fuse_ino_t ino, uint64_t n);
  void GetAttr(fuse_req_t req, fuse_ino_t ino);
  void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
  void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
               bool plus);
  void ReleaseDir(fuse_req_t req, fuse_file_info* fi);
  void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Read(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi);
  void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi);
  void Write(fuse_req_t req, const char* buf, size_t size, off_t off, fuse_file_info* fi);
  // flush (`closing`: a close) or fsync.
  void Flush(fuse_req_t req, fuse_file_info* fi, bool closing);
  void Release(fuse_req_t req, fuse_file_info* fi);
  void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name);
  void MkDir(fuse_req_t req, fuse_ino_t parent, const char* name);
  void RmDir(fuse_req_t req, fuse_ino_t parent, const char* name);
  void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags);
  void StatFs(fuse_req_t req);

 private:
  struct DirEntry {
    std::string name;
    ObjectStat stat;
  };
  struct DirHandle {
    std::vector<DirEntry> entries;
  };

  double Timeout() const { return timeout_; }
  struct stat AttrOf(fuse_ino_t ino, const ObjectStat& s) const;
  // The stat of a path: a directory made by mkdir, a file being written, or the cluster's.
  Result<ObjectStat> StatPath(const std::string& path);
  void ReplyEntry(fuse_req_t req, const std::string& path, const ObjectStat& s);
  // Records the size the kernel was given for `ino` (it caches it for Timeout()).
  void Tell(fuse_ino_t ino, const ObjectStat& s);
  // A listing (plain readdir: the kernel takes no attributes from it) saw `s` for `ino`:
  // when it is the version the kernel was told, that stat is confirmed as of now; when not,
  // it is forgotten, so the next open asks the cluster (and fixes the kernel's size).
  void Confirm(fuse_ino_t ino, const ObjectStat& s);
  // How long an open trusts a stat the cluster gave (MountOptions::open_ttl resolved).
  std::chrono::duration<double> OpenTtl() const;
  // A descriptor of the staging file of `path` when it is being written here, else -1.
  int DupStaging(const std::string& path);
  // Rename of a file open for writing (lent by writing_): the handle takes `to`; an
  // object at `from` (an earlier flush's, or the one being replaced) is deleted. Returns
  // an errno (0: done), or -1 when the handle has nothing left to upload (closed and
  // flushed): then `from` is renamed as a stored object.
  int RenameWriting(FileHandle* h, const std::string& from, const std::string& to);
  // Returns a handle lent by writing_ (FileHandle::borrowers); deletes it if it was
  // released meanwhile.
  void GiveBack(FileHandle* h);
  Status Upload(FileHandle* h);
  // A new unlinked staging file for a file being written; -1 and errno on failure.
  int OpenStaging() const;
  Result<size_t> ReadInto(FileHandle* h, uint64_t off, std::span<char> out);
  Result<std::vector<DirEntry>> ListDir(const std::string& path);
  // Whether nothing is left below `path` (objects listed are confirmed by their owners).
  Result<bool> IsEmptyDir(const std::string& path);
  bool ReadOnly() const { return options_.read_only; }
  // Whether `path` is a directory made by mkdir still shown. REQUIRES: mu_.
  bool IsLocalDir(const std::string& path);

  std::unique_ptr<Client> client_;
  fuse_session* session_ = nullptr;
  const MountOptions options_;
  double timeout_ = 1.0;  // seconds the kernel may cache entries and attributes
  InodeTable inodes_;
  const uid_t uid_;
  const gid_t gid_;

  std::mutex mu_;
  std::unordered_map<std::string, std::string> versions_;  // path -> version last opened
  // The versions the read handles open on each inode are at (one entry per handle).
  std::unordered_map<uint64_t, std::vector<std::string>> open_versions_;  // GUARDED_BY(mu_)
  void ForgetOpenVersion(fuse_ino_t ino, const std::string& version);  // REQUIRES: mu_
  struct Told {
    ObjectStat stat;
    std::chrono::steady_clock::time_point at;
  };
  std::unordered_map<fuse_ino_t, Told> told_;  // inode -> the stat last told the kernel
  // Directories made by mkdir -> until when this mount shows them: until a file is written
  // below one, then kLocalDirGrace more (the members that cached "not found" for it hear of
  // the write in the background).
  std::map<std::string, std::chrono::steady_clock::time_point> local_dirs_;
  std::map<std::string, FileHandle*> writing_;  // files open for writing
  // Files open for writing whose name is gone (unlinked, or replaced by a rename), by
  // inode: what fstat of them answers from. GUARDED_BY(mu_)
  std::unordered_map<uint64_t, FileHandle*> orphans_;
  // statfs's answer, refreshed at most every 5 s. Its own lock: asking the cluster must
  // not hold up every other operation on mu_.
  std::mutex statfs_mu_;
  std::chrono::steady_clock::time_point statfs_at_;
  struct statvfs statfs_ {};
};

}  // namespace sluice::fuse
