// Shared flag handling for commands that run a cache engine in-process: the worker's
// flags (--config, --mount, --memory, --cache-dir, ...) mapped onto WorkerConfig.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "worker/config.h"

namespace sluice::cli {

struct EngineFlags {
  std::string config;
  std::vector<std::string> mounts;      // NAME=URI
  std::string memory;                   // SIZE
  std::vector<std::string> cache_dirs;  // DIR:SIZE
  std::string eviction;
  std::string page_size;
  std::string metadata_ttl;
};

void AddEngineFlags(CLI::App* cmd, EngineFlags* flags);
// Config file (if any), then flags over it; validated unless `validate` is false (for a
// caller that applies more flags first, then validates).
Result<worker::WorkerConfig> ConfigFromFlags(const EngineFlags& flags, bool validate = true);
Result<worker::Engine> BuildEngineFromFlags(const EngineFlags& flags);

// Prints "sluice: <error>" to stderr and returns the exit code for it.
int Fail(const Status& status);

}  // namespace sluice::cli
