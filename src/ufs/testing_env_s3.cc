#include <atomic>
#include <mutex>

#include <fmt/format.h>

#include "ufs/factory.h"
#include "ufs/testing_env.h"
#include "ufs/testing_s3rver.h"

namespace sluice::ufs::testing {
namespace {

// One s3rver per test process, started on first use and stopped at exit.
Result<S3rver*> SharedS3rver() {
  static std::mutex mu;
  static std::unique_ptr<S3rver> server;
  std::lock_guard lock(mu);
  if (!server) {
    SLUICE_ASSIGN_OR_RETURN(server, S3rver::Start("contract"));
  }
  return server.get();
}

}  // namespace

Result<std::string> S3Env::BucketUri() {
  SLUICE_ASSIGN_OR_RETURN(S3rver * s, SharedS3rver());
  return s->Uri();
}

Result<std::unique_ptr<UnderStore>> S3Env::NewStore() {
  static std::atomic<int> n{0};
  SLUICE_ASSIGN_OR_RETURN(S3rver * s, SharedS3rver());
  return OpenS3Store(s->Uri(fmt::format("t{}-{}", getpid(), n++)), s->Options());
}

}  // namespace sluice::ufs::testing
