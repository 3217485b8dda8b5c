#include "common/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace sluice {

Result<pid_t> SpawnProcess(const std::vector<std::string>& args, const SpawnOptions& o) {
  if (args.empty()) return Status::InvalidArgument("SpawnProcess: no program");
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int log_fd = -1;
  if (!o.log.empty()) {
    log_fd = ::open(o.log.c_str(),
                    O_WRONLY | O_CREAT | O_CLOEXEC | (o.truncate_log ? O_TRUNC : O_APPEND), 0644);
  }
  const std::string exec_failed = fmt::format("cannot run {}\n", args[0]);
  sigset_t none;
  sigemptyset(&none);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    if (log_fd >= 0) ::close(log_fd);
    return Status::Internal(fmt::format("fork: {}", strerror(err)));
  }
  if (pid == 0) {  // child: async-signal-safe calls only
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    if (o.die_with_parent || o.parent_death_signal != 0) {
      prctl(PR_SET_PDEATHSIG, o.die_with_parent ? SIGKILL : o.parent_death_signal);
      if (getppid() != parent) _exit(127);
    }
    if (o.own_process_group) setpgid(0, 0);
    if (log_fd >= 0) {
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
    }
    execvp(argv[0], argv.data());
    (void)!write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
    _exit(127);
  }
  if (log_fd >= 0) ::close(log_fd);
  return pid;
}

}  // namespace sluice
