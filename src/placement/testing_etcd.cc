#include "placement/testing_etcd.h"

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
#include <iterator>
#include <thread>
#include <vector>

#include "common/ports.h"
#include "common/subprocess.h"
#include "ufs/curl_client.h"

namespace sluice::placement::testing {
namespace {

std::string MakeTempDir() {
  const char* tmp = getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe)
  std::string pattern = fmt::format("{}/sluice-etcd-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  return mkdtemp(pattern.data()) != nullptr ? pattern : std::string();
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > 2000 ? all.substr(all.size() - 2000) : all;
}

// A free loopback port below the kernel's ephemeral range (32768 and up here): a test that
// kills etcd and starts it again on the same ports must not find one taken meanwhile as
// the source port of some outgoing connection, which an ephemeral port may well be.
int FreeFixedPort() {
  thread_local unsigned seed = static_cast<unsigned>(getpid()) * 2654435761u;
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = 20000 + static_cast<int>(rand_r(&seed) % 12000);
    if (LoopbackPortBindable(port)) return port;
  }
  return FreeLoopbackPort();
}

}  // namespace

bool EtcdProcess::Installed() { return access(kBinary, X_OK) == 0; }

Result<std::unique_ptr<EtcdProcess>> EtcdProcess::Start() {
  if (!Installed()) {
    return Status::NotFound(fmt::format("{} is missing (apt-get install etcd-server)", kBinary));
  }
  Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {  // another process may take a free port
    std::unique_ptr<EtcdProcess> e(new EtcdProcess());
    e->dir_ = MakeTempDir();
    if (e->dir_.empty()) return Status::IoError("cannot create a temp dir for etcd");
    int client = FreeFixedPort(), peer = FreeFixedPort();
    if (client <= 0 || peer <= 0 || client == peer) continue;
    e->url_ = fmt::format("http://127.0.0.1:{}", client);
    e->peer_url_ = fmt::format("http://127.0.0.1:{}", peer);
    last = e->Spawn();
    if (last.ok()) last = e->WaitReady();
    if (last.ok()) return e;
  }
  return last.ok() ? Status::Unavailable("no free loopback ports for etcd") : last;
}

EtcdProcess::~EtcdProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int wstatus = 0;
    bool reaped = false;
    for (int i = 0; i < 60 && !reaped; ++i) {
      reaped = waitpid(pid_, &wstatus, WNOHANG) == pid_;
      if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!reaped) Kill();
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

bool EtcdProcess::Alive() const { return pid_ > 0 && kill(pid_, 0) == 0; }

void EtcdProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int wstatus = 0;
  waitpid(pid_, &wstatus, 0);
  pid_ = -1;
}

Status EtcdProcess::Restart() {
  if (pid_ > 0) return Status::FailedPrecondition("etcd is still running: Kill() it first");
  SLUICE_RETURN_IF_ERROR(Spawn());
  return WaitReady();
}

Status EtcdProcess::Spawn() {
  const std::string log = dir_ + "/etcd.log";
  std::vector<std::string> args = {kBinary,
                                   "--name=default",
                                   "--data-dir=" + dir_ + "/data",
                                   "--listen-client-urls=" + url_,
                                   "--advertise-client-urls=" + url_,
                                   "--listen-peer-urls=" + peer_url_,
                                   "--initial-advertise-peer-urls=" + peer_url_,
                                   "--initial-cluster=default=" + peer_url_};
  SLUICE_ASSIGN_OR_RETURN(
      pid_t pid, SpawnProcess(args, {.log = log, .truncate_log = false, .die_with_parent = true}));
  pid_ = pid;
  return Status::OK();
}

Status EtcdProcess::WaitReady() {
  ufs::CurlClientOptions options;
  options.max_retries = 0;
  options.connect_timeout = std::chrono::milliseconds(500);
  options.request_timeout = std::chrono::seconds(1);
  ufs::CurlClient http(options);
  ufs::HttpRequest req;
  req.url = url_ + "/health";
  const std::string log = dir_ + "/etcd.log";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (true) {
    Result<ufs::HttpResponse> resp = http.Perform(req);
    if (resp.ok() && resp->status == 200 &&
        resp->body.find("\"health\":\"true\"") != std::string::npos) {
      return Status::OK();
    }
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable(
          fmt::format("etcd exited during start-up (status {}): {}", wstatus, Tail(log)));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      Kill();
      return Status::DeadlineExceeded(
          fmt::format("etcd at {} not healthy within 15s: {}", url_, Tail(log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace sluice::placement::testing
