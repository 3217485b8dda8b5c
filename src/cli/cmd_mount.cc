// `sluice mount MOUNTPOINT [--cluster ...|--etcd URL] [-o options] [--foreground]` and
// `sluice umount MOUNTPOINT [--lazy]`: the cluster's namespace as a directory (FUSE).
// Options: ro, allow_other, attr_timeout=DURATION, max_threads=N, readahead=SIZE,
// cache=SIZE (the client's memory cache), open_ttl=DURATION, cached_open, staging=DIR;
// anything else goes to libfuse.
#include <fmt/format.h>

#include "cli/client_flags.h"
#include "cli/commands.h"
#include "cli/setup.h"
#include "common/units.h"
#include "fuse/sluice_fs.h"

namespace sluice::cli {
namespace {

struct MountFlags {
  ClientFlags client;
  std::string mountpoint;
  std::vector<std::string> options;  // -o a,b=c (repeatable)
  bool foreground = false;
};

Status ApplyOption(const std::string& opt, fuse::MountOptions* m, ClientOptions* c) {
  size_t eq = opt.find('=');
  std::string key = opt.substr(0, eq), value = eq == std::string::npos ? "" : opt.substr(eq + 1);
  if (key == "ro") {
    m->read_only = true;
  } else if (key == "rw") {
    m->read_only = false;
  } else if (key == "allow_other") {
    m->allow_other = true;
  } else if (key == "attr_timeout") {
    SLUICE_ASSIGN_OR_RETURN(auto d, ParseDuration(value));
    m->attr_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(d);
  } else if (key == "max_threads") {
    m->max_threads = std::max(1, std::atoi(value.c_str()));
  } else if (key == "readahead") {
    SLUICE_ASSIGN_OR_RETURN(auto size, ParseSize(value));
    if (size < 4096 || size > 16 * kMiB) {
      return Status::InvalidArgument("-o readahead must be between 4KiB and 16MiB");
    }
    m->max_readahead = static_cast<uint32_t>(size);
  } else if (key == "cached_open") {
    m->open_ttl = std::chrono::milliseconds(-1);
  } else if (key == "open_ttl") {
    SLUICE_ASSIGN_OR_RETURN(auto d, ParseDuration(value));
    m->open_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(d);
  } else if (key == "cache") {
    SLUICE_ASSIGN_OR_RETURN(c->memory_cache, ParseSize(value));
  } else if (key == "staging") {
    m->staging_dir = value;
  } else {
    m->fuse_options.push_back(opt);
  }
  return Status::OK();
}

int Mount(const MountFlags& f) {
  auto co = ClientOptionsFrom(f.client);
  if (!co.ok()) return Fail(co.status());
  fuse::MountOptions m;
  m.mountpoint = f.mountpoint;
  m.foreground = f.foreground;
  for (const auto& group : f.options) {
    size_t i = 0;
    while (i <= group.size()) {
      size_t j = group.find(',', i);
      if (j == std::string::npos) j = group.size();
      if (j > i) {
        if (Status s = ApplyOption(group.substr(i, j - i), &m, &*co); !s.ok()) return Fail(s);
      }
      i = j + 1;
    }
  }
  Status s = fuse::RunMount(*co, m);
  return s.ok() ? 0 : Fail(s);
}

}  // namespace

void RegisterMount(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<MountFlags>();
  auto* cmd = app->add_subcommand("mount", "Mount the cluster's namespace as a directory (FUSE)");
  AddClientFlags(cmd, &flags->client);
  cmd->add_option("mountpoint", flags->mountpoint, "an empty directory")->required();
  cmd->add_option("-o", flags->options,
                  "ro, allow_other, attr_timeout=30s, max_threads=16, readahead=1MiB, "
                  "cache=SIZE, open_ttl=DURATION, cached_open, staging=DIR, or libfuse options")
      ->allow_extra_args(false);  // one value per -o: `mount -o ro MOUNTPOINT` works
  cmd->add_flag("-f,--foreground", flags->foreground, "stay in the foreground");
  cmd->callback([flags, exit_code] { *exit_code = Mount(*flags); });

  auto mp = std::make_shared<std::string>();
  auto lazy = std::make_shared<bool>(false);
  auto* um = app->add_subcommand("umount", "Unmount a Sluice mount");
  um->add_option("mountpoint", *mp, "where it is mounted")->required();
  um->add_flag("-l,--lazy", *lazy, "detach now even if files are open");
  um->callback([mp, lazy, exit_code] {
    Status s = fuse::Unmount(*mp, *lazy);
    *exit_code = s.ok() ? 0 : Fail(s);
  });
}

}  // namespace sluice::cli
