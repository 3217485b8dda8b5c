// `sluice worker`: runs one cache worker in the foreground until SIGTERM or SIGINT, then
// shuts down gracefully (stop accepting, finish in-flight requests, flush).
#include <signal.h>

#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/logging.h"
#include "worker/worker.h"

namespace sluice::cli {
namespace {

struct WorkerFlags {
  EngineFlags engine;
  std::string listen;
  int io_threads = 0;
  bool insecure = false;
  std::string log_level;
  std::string peers;
  std::string etcd;
  std::string cluster_name;
  std::string advertise;
};

int Run(const WorkerFlags& f, bool global_level_given) {
  auto config = ConfigFromFlags(f.engine, /*validate=*/false);  // validated below
  if (!config.ok()) return Fail(config.status());
  worker::WorkerConfig c = std::move(config).value();
  if (!f.listen.empty()) c.server.listen = f.listen;
  if (f.io_threads > 0) c.server.io_threads = f.io_threads;
  if (f.insecure) c.insecure = true;
  // A membership flag replaces the config's membership, of either kind.
  if (!f.peers.empty()) {
    c.cluster.peers = {f.peers};
    c.cluster.etcd.clear();
  }
  if (!f.etcd.empty()) {
    c.cluster.etcd = f.etcd;
    if (f.peers.empty()) c.cluster.peers.clear();
  }
  if (!f.cluster_name.empty()) c.cluster.name = f.cluster_name;
  if (!f.advertise.empty()) c.cluster.advertise = f.advertise;
  if (Status s = c.Validate(); !s.ok()) return Fail(s);
  if (const char* creds = std::getenv("SLUICE_S3_CREDENTIALS"); creds && *creds) {
    auto parsed = worker::ParseCredentials(creds);
    if (!parsed.ok()) return Fail(parsed.status().WithContext("SLUICE_S3_CREDENTIALS"));
    c.s3_credentials.insert(parsed->begin(), parsed->end());
  }
  if (const char* token = std::getenv("SLUICE_CLUSTER_TOKEN"); token && *token) {
    c.cluster_token = token;
  }
  // --worker-log-level, else sluice --log-level when given, else the config's, else info.
  if (!f.log_level.empty()) {
    if (!SetLogLevel(f.log_level)) {
      return Fail(Status::InvalidArgument(
          fmt::format("--worker-log-level '{}' is not a log level", f.log_level)));
    }
  } else if (!global_level_given) {
    SetLogLevel(c.log_level.empty() ? "info" : c.log_level);
  }

  // Signals are taken synchronously by this thread; every thread started below inherits
  // the blocked mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto w = worker::Worker::Create(std::move(c));
  if (!w.ok()) return Fail(w.status());
  if (Status s = (*w)->Start(); !s.ok()) return Fail(s);
  std::string mounts;
  for (const auto& m : (*w)->engine().mounts->List()) {
    mounts += fmt::format("{}{}={}", mounts.empty() ? "" : ", ", m.name, m.uri);
  }
  fmt::print("sluice worker: serving {} (mounts: {})\n", (*w)->endpoint(), mounts);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&sigs, &sig);
  fmt::print("sluice worker: {} received, shutting down\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(stdout);
  (*w)->Stop(std::chrono::seconds(10));
  w->reset();
  return 0;
}

}  // namespace

void RegisterWorker(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<WorkerFlags>();
  auto* cmd = app->add_subcommand("worker", "Run a cache worker (S3 API, /v1 API, /metrics)");
  AddEngineFlags(cmd, &flags->engine);
  cmd->add_option("--listen", flags->listen, "HOST:PORT to serve on (default 127.0.0.1:7480)");
  cmd->add_option("--io-threads", flags->io_threads, "HTTP I/O threads");
  cmd->add_flag("--insecure", flags->insecure,
                "allow listening beyond loopback without S3 credentials");
  cmd->add_option("--peers", flags->peers, "HOST:PORT,... of every worker (static membership)");
  cmd->add_option("--etcd", flags->etcd, "etcd URL: register and find members there");
  cmd->add_option("--cluster-name", flags->cluster_name, "cluster name (etcd key prefix)");
  cmd->add_option("--advertise", flags->advertise,
                  "HOST:PORT others reach this worker at (default: --listen)");
  cmd->add_option("--worker-log-level", flags->log_level, "log level for the worker");
  cmd->callback([flags, exit_code, app] {
    *exit_code = Run(*flags, app->count("--log-level") > 0);
  });
}

}  // namespace sluice::cli
