// Test helpers for the page store tests: a self-deleting temp directory and page data
// derived from a key, so any read can be checked without remembering what was written.
// Thread-safety: TempDir is not shared between threads; PageData is pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pagestore/page_store.h"

namespace sluice::pagestore::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// `size` bytes determined by (key, salt).
std::string PageData(const PageKey& key, size_t size, uint64_t salt = 0);
PageKey Key(uint64_t file, uint64_t index);
// Every regular file named *.page under `dir`.
std::vector<std::string> PageFiles(const std::string& dir);

}  // namespace sluice::pagestore::testing
