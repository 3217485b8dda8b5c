// Starting helper processes (etcd and s3rver in tests, workers under `sluice up`).
// Thread-safe: argv and the log file are prepared before fork; the child only makes
// async-signal-safe calls.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "sluice/status.h"

namespace sluice {

struct SpawnOptions {
  std::string log;               // stdout and stderr go here ("" leaves them as they are)
  bool truncate_log = false;     // else appended
  bool die_with_parent = false;  // SIGKILL when this process dies (test fixtures)
  // Else, when not 0: this signal when this process dies (SIGTERM: the child stops
  // cleanly, a worker deregistering, if its parent is killed or crashes).
  int parent_death_signal = 0;
  bool own_process_group = false;  // a terminal's Ctrl-C reaches only the parent
};

// Starts args[0] (looked up on PATH when it has no '/') with `args`; the child's signal
// mask is cleared. Returns its pid; a failed exec writes "cannot run PROGRAM" to the log
// and exits 127.
Result<pid_t> SpawnProcess(const std::vector<std::string>& args, const SpawnOptions& options);

}  // namespace sluice
