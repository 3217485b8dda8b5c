#include "fuse/inode_table.h"

#include <vector>

#include "common/hash.h"

namespace sluice::fuse {

InodeTable::InodeTable() {
  nodes_[kRootInode] = Node{"/", 1};
  by_path_["/"] = kRootInode;
}

uint64_t InodeTable::Lookup(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = by_path_.find(path);
  if (it != by_path_.end()) {
    nodes_[it->second].refs++;
    return it->second;
  }
  uint64_t ino = next_++;
  nodes_[ino] = Node{path, 1};
  by_path_[path] = ino;
  return ino;
}

void InodeTable::Forget(uint64_t ino, uint64_t n) {
  if (ino == kRootInode) return;
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;
  if (it->second.refs > n) {
    it->second.refs -= n;
    return;
  }
  auto p = by_path_.find(it->second.path);
  if (p != by_path_.end() && p->second == ino) by_path_.erase(p);
  nodes_.erase(it);
}

uint64_t InodeTable::Peek(const std::string& path) const {
  {
    std::lock_guard lock(mu_);
    auto it = by_path_.find(path);
    if (it != by_path_.end()) return it->second;
  }
  return Hash64(path) | (uint64_t{1} << 63);
}

std::optional<std::string> InodeTable::Path(uint64_t ino) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return std::nullopt;
  return it->second.path;
}

void InodeTable::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  const std::string dir = from + "/";
  std::vector<std::pair<std::string, uint64_t>> moved;
  for (const auto& [path, ino] : by_path_) {
    if (path == from || path.starts_with(dir)) moved.emplace_back(path, ino);
  }
  for (const auto& [path, ino] : moved) {
    std::string renamed = to + path.substr(from.size());
    by_path_.erase(path);
    by_path_[renamed] = ino;
    nodes_[ino].path = renamed;
  }
}

size_t InodeTable::size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

std::string ChildPath(const std::string& parent, const char* name) {
  return parent == "/" ? "/" + std::string(name) : parent + "/" + name;
}

}  // namespace sluice::fuse
