#include "ufs/testing_env.h"

#include <stdlib.h>

#include <filesystem>

#include "ufs/factory.h"
#include "ufs/fake_store.h"

namespace sluice::ufs::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-test-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  path_ = p ? p : "";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

Result<std::unique_ptr<UnderStore>> FakeEnv::NewStore() {
  return std::unique_ptr<UnderStore>(new FakeStore());
}

Result<std::unique_ptr<UnderStore>> FileEnv::NewStore() {
  dirs.push_back(std::make_unique<TempDir>());
  return OpenFileStore("file://" + dirs.back()->path());
}

}  // namespace sluice::ufs::testing
