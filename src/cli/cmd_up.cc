// `sluice up`: a local cluster in the foreground. Starts N workers (this binary's
// `worker` subcommand) on --base-port + i, each with a disk tier under DIR/worker-i, and
// with --etcd an etcd on --base-port + 100 (+ 101 for its peer port) that the workers
// register in; prints the endpoints and the `export SLUICE_CLUSTER=...` line; on Ctrl-C
// or SIGTERM stops everything (SIGTERM, then SIGKILL after 15 s) and exits 0.
// With no --mount, DIR/data is created and mounted as /data.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/ports.h"
#include "common/subprocess.h"
#include "ufs/mount_table.h"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;

struct UpFlags {
  int workers = 3;
  bool etcd = false;
  std::vector<std::string> mounts;
  std::string dir = (fs::temp_directory_path() / "sluice-up").string();
  int base_port = 7480;
  std::string memory = "512MiB";
  std::string cache_size = "2GiB";
  std::string metadata_ttl;
};

struct Child {
  std::string name;
  pid_t pid = -1;
  int port = 0;
};

// A child in its own process group (Ctrl-C is ours to pass on), output to its log, sent
// SIGTERM if we die without stopping it (SIGKILL, a crash): no orphaned cluster keeps the
// ports. -1 if it cannot be started.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  auto pid = SpawnProcess(
      argv, {.log = log, .parent_death_signal = SIGTERM, .own_process_group = true});
  if (!pid.ok()) fmt::print(stderr, "sluice up: {}\n", pid.status().ToString());
  return pid.ok() ? *pid : -1;
}

// Waits until every child listens; fails if one exits first, after 30 s, or when one of
// `sigs` (blocked) arrives meanwhile (Ctrl-C during start-up).
Status WaitReady(const std::vector<Child>& children, const std::string& dir, const sigset_t& sigs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (const auto& c : children) {
    while (!LoopbackPortAccepts(c.port)) {
      const timespec now{0, 0};
      if (int sig = sigtimedwait(&sigs, nullptr, &now); sig > 0) {
        return Status::Unavailable(fmt::format("interrupted by signal {} during start-up", sig));
      }
      int st = 0;
      if (waitpid(c.pid, &st, WNOHANG) == c.pid) {
        return Status::Unavailable(
            fmt::format("{} exited during start-up: see {}/{}.log", c.name, dir, c.name));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::DeadlineExceeded(fmt::format("{} did not start within 30 s", c.name));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return Status::OK();
}

void StopAll(std::vector<Child>& children) {
  // Workers first (they deregister from etcd), then etcd.
  for (int round = 0; round < 2; ++round) {
    for (auto& c : children) {
      bool is_etcd = c.name == "etcd";
      if (c.pid > 0 && is_etcd == (round == 1)) kill(c.pid, SIGTERM);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    for (auto& c : children) {
      if (c.pid <= 0 || (c.name == "etcd") != (round == 1)) continue;
      int st = 0;
      while (waitpid(c.pid, &st, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          kill(c.pid, SIGKILL);
          waitpid(c.pid, &st, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      c.pid = -1;
    }
  }
}

int Up(const UpFlags& f) {
  if (f.workers < 1 || f.workers > 64) {
    return Fail(Status::InvalidArgument("--workers must be between 1 and 64"));
  }
  if (f.base_port < 1 || f.base_port + 101 > 65535) {
    return Fail(Status::InvalidArgument("--base-port out of range"));
  }
  std::error_code ec;
  fs::create_directories(f.dir, ec);
  if (ec) return Fail(Status::Unavailable(fmt::format("--dir {}: {}", f.dir, ec.message())));
  std::vector<std::string> mounts = f.mounts;
  if (mounts.empty()) {
    fs::create_directories(fs::path(f.dir) / "data", ec);
    mounts.push_back(fmt::format("data=file://{}", fs::absolute(fs::path(f.dir) / "data").string()));
  }
  for (const auto& m : mounts) {
    if (auto p = ufs::ParseMountSpec(m); !p.ok()) return Fail(p.status());
  }
  std::vector<int> ports;
  for (int i = 0; i < f.workers; ++i) ports.push_back(f.base_port + i);
  if (f.etcd) ports.insert(ports.end(), {f.base_port + 100, f.base_port + 101});
  for (int port : ports) {
    if (LoopbackPortAccepts(port)) {
      return Fail(Status::AlreadyExists(
          fmt::format("port {} is taken: is another cluster running? (--base-port)", port)));
    }
  }

  // Stopped cleanly by Ctrl-C, SIGTERM, a closed terminal (SIGHUP) or SIGQUIT.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&sigs, sig);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  std::vector<Child> children;
  std::string etcd_url;
  if (f.etcd) {
    int cp = f.base_port + 100, pp = f.base_port + 101;
    etcd_url = fmt::format("http://127.0.0.1:{}", cp);
    std::string peer = fmt::format("http://127.0.0.1:{}", pp);
    children.push_back({"etcd",
                        Spawn({"etcd", "--name", "sluice-up", "--data-dir",
                               (fs::path(f.dir) / "etcd").string(), "--listen-client-urls",
                               etcd_url, "--advertise-client-urls", etcd_url,
                               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                               "--initial-cluster", "sluice-up=" + peer},
                              (fs::path(f.dir) / "etcd.log").string()),
                        cp});
    if (Status s = WaitReady(children, f.dir, sigs); !s.ok()) {
      StopAll(children);
      return Fail(s);
    }
  }
  std::string peers;
  for (int i = 0; i < f.workers; ++i) {
    peers += fmt::format("{}127.0.0.1:{}", i ? "," : "", f.base_port + i);
  }
  std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  for (int i = 0; i < f.workers; ++i) {
    std::string name = fmt::format("worker-{}", i);
    fs::path wdir = fs::path(f.dir) / name;
    fs::create_directories(wdir / "cache", ec);
    std::vector<std::string> argv{self, "worker", "--listen",
                                  fmt::format("127.0.0.1:{}", f.base_port + i), "--memory",
                                  f.memory, "--cache-dir",
                                  fmt::format("{}:{}", (wdir / "cache").string(), f.cache_size)};
    if (f.etcd) {
      argv.insert(argv.end(), {"--etcd", etcd_url});
    } else {
      argv.insert(argv.end(), {"--peers", peers});
    }
    if (!f.metadata_ttl.empty()) argv.insert(argv.end(), {"--metadata-ttl", f.metadata_ttl});
    for (const auto& m : mounts) argv.insert(argv.end(), {"--mount", m});
    children.push_back(
        {name, Spawn(argv, (fs::path(f.dir) / (name + ".log")).string()), f.base_port + i});
  }
  if (Status s = WaitReady(children, f.dir, sigs); !s.ok()) {
    StopAll(children);
    return Fail(s);
  }
  fmt::print("sluice up: {} worker(s) ready (logs and caches in {})\n", f.workers, f.dir);
  for (const auto& c : children) {
    fmt::print("  {:<9} http://127.0.0.1:{}\n", c.name, c.port);
  }
  for (const auto& m : mounts) fmt::print("  mount     /{}\n", m.substr(0, m.find('=')));
  fmt::print("\nexport SLUICE_CLUSTER={}\n", peers);
  if (f.etcd) fmt::print("export SLUICE_ETCD={}\n", etcd_url);
  fmt::print("\nCtrl-C stops the cluster.\n");
  std::fflush(stdout);

  // Wait for a signal; report children that die meanwhile.
  timespec tick{0, 200 * 1000 * 1000};
  for (;;) {
    int sig = sigtimedwait(&sigs, nullptr, &tick);
    if (sig > 0) break;
    for (auto& c : children) {
      int st = 0;
      if (c.pid > 0 && waitpid(c.pid, &st, WNOHANG) == c.pid) {
        fmt::print(stderr, "sluice up: {} exited ({}); see {}/{}.log\n", c.name,
                   WIFSIGNALED(st) ? fmt::format("signal {}", WTERMSIG(st))
                                   : fmt::format("status {}", WEXITSTATUS(st)),
                   f.dir, c.name);
        c.pid = -1;
      }
    }
  }
  fmt::print("sluice up: stopping\n");
  std::fflush(stdout);
  StopAll(children);
  return 0;
}

}  // namespace

void RegisterUp(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<UpFlags>();
  auto* cmd = app->add_subcommand("up", "Run a local cluster in the foreground");
  cmd->add_option("--workers", flags->workers, "number of workers (default 3)");
  cmd->add_flag("--etcd", flags->etcd, "start etcd and use it for membership");
  cmd->add_option("--mount", flags->mounts, "NAME=URI (repeatable; default: DIR/data as /data)");
  cmd->add_option("--dir", flags->dir, "folder for logs, caches and data (default $TMPDIR/sluice-up)");
  cmd->add_option("--base-port", flags->base_port, "worker i listens on BASE+i (default 7480)");
  cmd->add_option("--memory", flags->memory, "memory tier per worker (default 512MiB)");
  cmd->add_option("--cache-size", flags->cache_size, "disk tier per worker (default 2GiB)");
  cmd->add_option("--metadata-ttl", flags->metadata_ttl, "passed to every worker");
  cmd->callback([flags, exit_code] { *exit_code = Up(*flags); });
}

}  // namespace sluice::cli
