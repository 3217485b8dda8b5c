// Test environments that each make a fresh, empty UnderStore: the fake, a temp
// directory behind file://, and a bucket prefix on a real s3rver (started once per
// process). For contract suites in this folder and above.
#pragma once

#include <memory>
#include <string>

#include "ufs/under_store.h"

namespace sluice::ufs::testing {

// A temp directory removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct FakeEnv {
  static std::string Name() { return "Fake"; }
  Result<std::unique_ptr<UnderStore>> NewStore();
};

struct FileEnv {
  static std::string Name() { return "File"; }
  Result<std::unique_ptr<UnderStore>> NewStore();
  std::vector<std::unique_ptr<TempDir>> dirs;
};

// Starts s3rver (once per process) and hands out s3://bucket/<unique prefix> stores.
struct S3Env {
  static std::string Name() { return "S3"; }
  Result<std::unique_ptr<UnderStore>> NewStore();
  // s3://test-bucket?endpoint=... of the shared s3rver (starting it if needed).
  static Result<std::string> BucketUri();
};

}  // namespace sluice::ufs::testing
