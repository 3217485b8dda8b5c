#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "common/logging.h"
#include "fuse/fs.h"
#include "fuse/sluice_fs.h"

namespace sluice::fuse {
namespace {

// A mount point whose FUSE server died answers ENOTCONN: detach it.
Status ClearStaleMount(const std::string& mountpoint) {
  struct stat st {};
  if (::stat(mountpoint.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return Status::InvalidArgument(fmt::format("mount point {} is not a directory", mountpoint));
    }
    return Status::OK();
  }
  if (errno != ENOTCONN) {
    return Status::InvalidArgument(fmt::format("mount point {}: {}", mountpoint, strerror(errno)));
  }
  if (::umount2(mountpoint.c_str(), MNT_DETACH) != 0) {
    return Status::Unavailable(fmt::format("{} holds a stale mount that cannot be detached: {}",
                                           mountpoint, strerror(errno)));
  }
  fmt::print(stderr, "sluice mount: cleared a stale mount at {}\n", mountpoint);
  return Status::OK();
}

// Raises the kernel's read-ahead for the new mount (its bdi) to `bytes`; the mount option
// alone stops at 128 KiB. Best effort, once the loop serves (stat needs an answer).
void RaiseReadAhead(const std::string& mountpoint, uint32_t bytes) {
  std::thread([mountpoint, bytes] {
    struct stat st {};
    if (::stat(mountpoint.c_str(), &st) != 0) return;
    std::ofstream f(fmt::format("/sys/class/bdi/{}:{}/read_ahead_kb", major(st.st_dev),
                                minor(st.st_dev)));
    if (f) f << bytes / 1024;
  }).detach();
}

std::vector<std::string> FuseArgs(const MountOptions& o) {
  std::vector<std::string> args{"sluice", "-o", "fsname=sluice,subtype=sluice,default_permissions"};
  if (o.read_only) args.insert(args.end(), {"-o", "ro"});
  if (o.allow_other) args.insert(args.end(), {"-o", "allow_other"});
  args.insert(args.end(), {"-o", fmt::format("max_read={}", o.max_readahead)});
  for (const auto& opt : o.fuse_options) args.insert(args.end(), {"-o", opt});
  return args;
}

}  // namespace

Status RunMount(const ClientOptions& client_options, const MountOptions& options) {
  SLUICE_RETURN_IF_ERROR(ClearStaleMount(options.mountpoint));
  {
    // Fail here, with a clear error, if the cluster cannot be reached (the connection
    // itself is made again after detaching: threads do not survive a fork).
    SLUICE_ASSIGN_OR_RETURN(auto probe, Client::Connect(client_options));
  }
  std::vector<std::string> args = FuseArgs(options);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  auto fs = std::make_unique<SluiceFs>(options);
  fuse_session* se = fuse_session_new(&fargs, SluiceFs::Ops(), sizeof(fuse_lowlevel_ops), fs.get());
  fuse_opt_free_args(&fargs);
  if (se == nullptr) return Status::InvalidArgument("bad FUSE options (see the log above)");
  fs->SetSession(se);
  if (fuse_session_mount(se, options.mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    return Status::Unavailable(fmt::format("cannot mount at {} (FUSE needs root here)",
                                           options.mountpoint));
  }
  if (fuse_daemonize(options.foreground ? 1 : 0) != 0) {
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    return Status::Internal("cannot detach from the terminal");
  }
  Status result = Status::OK();
  auto client = Client::Connect(client_options);
  if (!client.ok()) {
    result = client.status();
    SLUICE_LOG_ERROR("sluice mount: {}", result.ToString());
  } else {
    fs->Attach(std::move(client).value());
    fuse_set_signal_handlers(se);
    RaiseReadAhead(options.mountpoint, options.max_readahead);
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(options.max_threads));
    fuse_loop_cfg_set_idle_threads(cfg, static_cast<unsigned>(options.max_threads));
    int rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    fuse_remove_signal_handlers(se);
    if (rc < 0) result = Status::Internal(fmt::format("FUSE loop: {}", strerror(-rc)));
  }
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  return result;
}

Status Unmount(const std::string& mountpoint, bool lazy) {
  if (::umount2(mountpoint.c_str(), lazy ? MNT_DETACH : 0) == 0) return Status::OK();
  int err = errno;
  if (err == EINVAL) return Status::NotFound(fmt::format("nothing is mounted at {}", mountpoint));
  if (err == EBUSY) {
    return Status::FailedPrecondition(
        fmt::format("{} is busy (files open): close them, or use --lazy", mountpoint));
  }
  if (err == EPERM) {
    // Not root: fusermount3 may unmount our own FUSE mount.
    std::string cmd = fmt::format("fusermount3 -u {}{}", lazy ? "-z " : "", mountpoint);
    if (std::system(cmd.c_str()) == 0) return Status::OK();
  }
  return Status::Unavailable(fmt::format("umount {}: {}", mountpoint, strerror(err)));
}

}  // namespace sluice::fuse
