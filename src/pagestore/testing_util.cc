#include "pagestore/testing_util.h"

#include <stdlib.h>

#include <filesystem>
#include <random>

#include "common/hash.h"

namespace sluice::pagestore::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-ps-XXXXXX").string();
  path_ = ::mkdtemp(tmpl.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string PageData(const PageKey& key, size_t size, uint64_t salt) {
  std::mt19937_64 rng(key.file_id.lo ^ key.index * 0x9e3779b97f4a7c15ULL ^ salt);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  return data;
}

PageKey Key(uint64_t file, uint64_t index) {
  return PageKey{MakeFileId("test://file/" + std::to_string(file), "v1", 1 << 20), index};
}

std::vector<std::string> PageFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".page") out.push_back(e.path().string());
  }
  return out;
}

}  // namespace sluice::pagestore::testing
