// Helpers shared by the files of SluiceFs, by operation group: fs.cc (attributes,
// lookups, statfs and the ops table), fs_dir.cc (directories), fs_file.cc (opening,
// reading, writing and closing files), fs_names.cc (unlink and rename). Internal to
// src/fuse.
#pragma once

#include <optional>
#include <string>

#include "fuse/errno_map.h"
#include "fuse/fs.h"

namespace sluice::fuse {

// How long a directory made here (mkdir) is still listed once a file below it was written:
// until the other members learn of it.
inline constexpr std::chrono::seconds kLocalDirGrace{10};

inline FileHandle* Handle(fuse_file_info* fi) { return reinterpret_cast<FileHandle*>(fi->fh); }

inline void ReplyErr(fuse_req_t req, const Status& s) { fuse_reply_err(req, ErrnoOf(s)); }

inline ObjectStat DirStat(const std::string& path) {
  ObjectStat s;
  s.path = path;
  s.is_dir = true;
  return s;
}

// The stat of a file being written: its staging file's size and mtime (nullopt if the
// descriptor cannot be stat'ed).
std::optional<ObjectStat> StagedStat(const std::string& path, int staging_fd);

}  // namespace sluice::fuse
