// InodeTable: the FUSE mount's inode numbers. Each namespace path the kernel has looked up
// gets a number (the root is 1) that stays the same while the kernel holds a reference;
// Lookup adds a reference, Forget drops them, and a path whose count reaches zero is
// forgotten (a later lookup may give it a new number). Rename moves a path (and every path
// below it) to a new name, keeping numbers.
//
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace sluice::fuse {

inline constexpr uint64_t kRootInode = 1;

class InodeTable {
 public:
  InodeTable();
  // The inode of `path` with one more kernel reference (a new number if unknown).
  uint64_t Lookup(const std::string& path);
  // Drops `n` references; the path is forgotten at zero (the root never is).
  void Forget(uint64_t ino, uint64_t n);
  // The inode of `path` without a reference (for plain readdir entries): its number when
  // known, else a stable non-zero number derived from the path (top bit set, so never one
  // that Lookup hands out).
  uint64_t Peek(const std::string& path) const;
  // The path of an inode the kernel holds, or nullopt.
  std::optional<std::string> Path(uint64_t ino) const;
  // `from` (and everything below it) is now called `to`.
  void Rename(const std::string& from, const std::string& to);
  size_t size() const;

 private:
  struct Node {
    std::string path;
    uint64_t refs = 0;
  };
  mutable std::mutex mu_;
  uint64_t next_ = kRootInode + 1;                    // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, Node> nodes_;          // GUARDED_BY(mu_)
  std::unordered_map<std::string, uint64_t> by_path_;  // GUARDED_BY(mu_)
};

// "/" + name under `parent` ("/" -> "/name", "/a" -> "/a/name").
std::string ChildPath(const std::string& parent, const char* name);

}  // namespace sluice::fuse
