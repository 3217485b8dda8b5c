#include "ufs/testing_s3rver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "common/ports.h"
#include "common/subprocess.h"

namespace sluice::ufs::testing {
namespace {

std::string FindOnPath(const std::string& name) {
  const char* path = getenv("PATH");  // NOLINT(concurrency-mt-unsafe)
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = fmt::format("{}/{}", dir, name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > 2000 ? all.substr(all.size() - 2000) : all;
}

}  // namespace

Result<std::unique_ptr<S3rver>> S3rver::Start(const std::string& bucket) {
  const std::string script =
      std::string(SLUICE_SOURCE_DIR) + "/third_party/node/node_modules/s3rver/bin/s3rver.js";
  if (access(script.c_str(), R_OK) != 0) {
    return Status::NotFound(fmt::format(
        "s3rver is not installed ({} is missing): run scripts/bootstrap first", script));
  }
  std::string node = FindOnPath("node");
  if (node.empty()) {
    return Status::NotFound("node is not on PATH: run scripts/bootstrap first");
  }
  std::unique_ptr<S3rver> s(new S3rver());
  s->dir_ = std::make_unique<TempDir>();
  if (s->dir_->path().empty()) return Status::IoError("cannot create a temp dir for s3rver");
  s->bucket_ = bucket;
  std::string data = s->dir_->path() + "/data";
  std::string log = s->dir_->path() + "/s3rver.log";
  std::filesystem::create_directories(data);
  int port = FreeLoopbackPort();
  if (port <= 0) return Status::Unavailable("no free loopback port for s3rver");
  s->endpoint_ = fmt::format("http://127.0.0.1:{}", port);

  std::vector<std::string> args = {node,
                                   "--openssl-legacy-provider",
                                   script,
                                   "-d",
                                   data,
                                   "-a",
                                   "127.0.0.1",
                                   "-p",
                                   std::to_string(port),
                                   "-s",
                                   "--configure-bucket",
                                   bucket};
  SLUICE_ASSIGN_OR_RETURN(
      pid_t pid, SpawnProcess(args, {.log = log, .truncate_log = true, .die_with_parent = true}));
  s->pid_ = pid;

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!LoopbackPortAccepts(port)) {
    int wstatus = 0;
    if (waitpid(pid, &wstatus, WNOHANG) == pid) {
      s->pid_ = -1;
      return Status::Unavailable(
          fmt::format("s3rver exited during start-up (status {}): {}", wstatus, Tail(log)));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::DeadlineExceeded(
          fmt::format("s3rver did not listen on port {} within 30s: {}", port, Tail(log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return s;
}

S3rver::~S3rver() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int wstatus = 0;
    bool reaped = false;
    for (int i = 0; i < 60 && !reaped; ++i) {
      reaped = waitpid(pid_, &wstatus, WNOHANG) == pid_;
      if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!reaped) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &wstatus, 0);
    }
  }
  dir_.reset();  // removes the data dir
}

bool S3rver::Alive() const { return pid_ > 0 && kill(pid_, 0) == 0; }

std::string S3rver::Uri(const std::string& prefix) const {
  return fmt::format("s3://{}{}{}?endpoint={}", bucket_, prefix.empty() ? "" : "/", prefix,
                     endpoint_);
}

S3Options S3rver::Options() const {
  S3Options o;
  o.access_key = "S3RVER";
  o.secret_key = "S3RVER";
  o.retry_base_delay = std::chrono::milliseconds(10);
  return o;
}

}  // namespace sluice::ufs::testing
