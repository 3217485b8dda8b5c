// EtcdProcess: a real etcd (Debian's etcd-server, /usr/bin/etcd) started for tests on two
// free loopback ports (client and peer) with a temp data dir. The child is etcd itself
// (fork/exec, no shell); it gets SIGKILL if the test process dies. Kill() and Restart()
// simulate an etcd outage; the destructor stops and reaps etcd and removes the data dir.
// Tests skip (GTEST_SKIP) when Installed() is false.
//
// Thread-safety: start, kill, restart and destroy from one thread; url() is const.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "sluice/status.h"

namespace sluice::placement::testing {

class EtcdProcess {
 public:
  static constexpr const char* kBinary = "/usr/bin/etcd";
  static bool Installed();

  // Starts etcd and waits (up to 15 s) until GET /health answers true.
  // kNotFound if etcd is not installed.
  static Result<std::unique_ptr<EtcdProcess>> Start();
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT
  pid_t pid() const { return pid_; }
  bool Alive() const;
  // SIGKILLs etcd and reaps it; the data dir stays. No-op if not running.
  void Kill();
  // Starts etcd again on the same ports and data dir and waits until it answers.
  // REQUIRES: Kill() was called.
  Status Restart();

 private:
  EtcdProcess() = default;
  Status Spawn();
  Status WaitReady();

  std::string dir_;  // temp dir: data/ and etcd.log
  std::string url_, peer_url_;
  pid_t pid_ = -1;
};

}  // namespace sluice::placement::testing
