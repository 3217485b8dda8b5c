// S3rver: a real s3rver (the npm S3 emulator in third_party/node, installed by
// scripts/bootstrap) started for tests on a free loopback port, with a temp data dir
// and one configured bucket. Credentials S3RVER/S3RVER, path-style addressing.
// The child is the node process itself (fork/exec, no shell); it gets SIGKILL if the
// test process dies, and the destructor stops and reaps it and removes the data dir.
//
// Thread-safety: start and stop from one thread; the accessors are const.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "sluice/status.h"
#include "ufs/options.h"
#include "ufs/testing_env.h"

namespace sluice::ufs::testing {

class S3rver {
 public:
  // Starts s3rver and waits (up to 30 s) until its port accepts connections.
  // kNotFound naming scripts/bootstrap if s3rver or node is not installed.
  static Result<std::unique_ptr<S3rver>> Start(const std::string& bucket = "sluice-test");
  ~S3rver();
  S3rver(const S3rver&) = delete;
  S3rver& operator=(const S3rver&) = delete;

  const std::string& endpoint() const { return endpoint_; }  // http://127.0.0.1:PORT
  const std::string& bucket() const { return bucket_; }
  pid_t pid() const { return pid_; }
  bool Alive() const;
  // s3://bucket[/prefix]?endpoint=...
  std::string Uri(const std::string& prefix = "") const;
  // S3Options with the s3rver credentials and quick retries.
  S3Options Options() const;

 private:
  S3rver() = default;
  std::unique_ptr<TempDir> dir_;
  std::string endpoint_, bucket_;
  pid_t pid_ = -1;
};

}  // namespace sluice::ufs::testing
