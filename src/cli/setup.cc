#include "cli/setup.h"

#include <iostream>

#include "ufs/mount_table.h"

namespace sluice::cli {

void AddEngineFlags(CLI::App* cmd, EngineFlags* f) {
  cmd->add_option("--config", f->config, "YAML config file (see deploy/sluice.yaml)");
  cmd->add_option("--mount", f->mounts, "mount an under store: NAME=URI (repeatable)");
  cmd->add_option("--memory", f->memory, "memory tier size, e.g. 1GiB (0 disables it)");
  cmd->add_option("--cache-dir", f->cache_dirs, "disk tier directory: DIR:SIZE (repeatable)");
  cmd->add_option("--eviction", f->eviction, "s3fifo (default), lru or none");
  cmd->add_option("--page-size", f->page_size, "cache page size, 64KiB..16MiB (default 1MiB)");
  cmd->add_option("--metadata-ttl", f->metadata_ttl, "how long stat results are trusted");
}

Result<worker::WorkerConfig> ConfigFromFlags(const EngineFlags& f, bool validate) {
  worker::WorkerConfig c;
  if (!f.config.empty()) {
    SLUICE_ASSIGN_OR_RETURN(c, worker::LoadWorkerConfig(f.config));
  }
  for (const auto& spec : f.mounts) {
    SLUICE_ASSIGN_OR_RETURN(auto m, ufs::ParseMountSpec(spec));
    c.mounts.push_back({m.first, m.second});
  }
  if (!f.memory.empty()) {
    SLUICE_ASSIGN_OR_RETURN(c.pages.memory, ParseSize(f.memory));
  }
  for (const auto& spec : f.cache_dirs) {
    SLUICE_ASSIGN_OR_RETURN(auto d, worker::ParseCacheDir(spec));
    c.pages.cache_dirs.push_back(d);
  }
  if (!f.eviction.empty()) c.pages.eviction = f.eviction;
  if (!f.page_size.empty()) {
    SLUICE_ASSIGN_OR_RETURN(c.cache.page_size, ParseSize(f.page_size));
  }
  if (!f.metadata_ttl.empty()) {
    SLUICE_ASSIGN_OR_RETURN(c.cache.metadata_ttl, ParseDuration(f.metadata_ttl));
  }
  if (c.mounts.empty()) return Status::InvalidArgument("no mounts: give --mount NAME=URI");
  if (validate) SLUICE_RETURN_IF_ERROR(c.Validate());
  return c;
}

Result<worker::Engine> BuildEngineFromFlags(const EngineFlags& f) {
  SLUICE_ASSIGN_OR_RETURN(worker::WorkerConfig c, ConfigFromFlags(f));
  return worker::BuildEngine(c);
}

int Fail(const Status& status) {
  std::cerr << "sluice: " << status.ToString() << "\n";
  return status.Is(StatusCode::kInvalidArgument) ? 2 : 1;
}

}  // namespace sluice::cli
