// `sluice cp SRC DST [-r] [-j N]`: copies between the cluster and local files, in either
// direction, through the client library. A cluster path is written sluice://NAME/a/b (or
// sluice:/NAME/a/b); anything else is a local path. With -r a directory is copied with N
// files in flight (default 16); a large file is read block by block in parallel by the
// client itself. Failures are listed at the end; the exit code is non-zero if any.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/client_flags.h"
#include "cli/commands.h"
#include "cli/setup.h"
#include "common/clock.h"
#include "common/units.h"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;

struct CpFlags {
  ClientFlags client;
  std::string src, dst;
  bool recursive = false;
  int jobs = 16;
  bool quiet = false;
};

struct Job {
  std::string cluster_path;
  std::string local_path;
  uint64_t size = 0;
  std::string refused;  // why this file is not copied (nothing is touched), or ""
};

// The mode new local files get (0644 less the umask), read once before any thread starts.
mode_t g_file_mode = 0644;

// Copies [at, at + buf.size()) of the object to the same offset of fd; the bytes read.
Result<size_t> CopyRange(Client& c, const Job& j, int fd, uint64_t at, std::span<char> buf) {
  SLUICE_ASSIGN_OR_RETURN(size_t n, c.Read(j.cluster_path, at, buf));
  for (size_t done = 0; done < n;) {
    ssize_t w = ::pwrite(fd, buf.data() + done, n - done, static_cast<off_t>(at + done));
    if (w < 0) {
      return Status::ResourceExhausted(fmt::format("{}: {}", j.local_path, strerror(errno)));
    }
    done += static_cast<size_t>(w);
  }
  return n;
}

// A large file is copied by up to kRangeThreads threads, each reading its next 64 MiB range
// (a placement block by default, so different workers serve them at once) and writing it
// while the others read.
// A new or regular file is written as a temporary file beside it, renamed over it once
// complete: a copy that fails leaves what was there before untouched. Anything else (a
// device such as /dev/null, a FIFO, a symlink) is written in place, as a shell's > would.
Status Download(Client& c, const Job& j) {
  constexpr uint64_t kRange = 64 * kMiB;
  constexpr uint64_t kRangeThreads = 4;
  if (!j.refused.empty()) return Status::PermissionDenied(j.refused);
  const fs::path target(j.local_path);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  const fs::file_status existing = fs::symlink_status(target, ec);
  const bool replace = !fs::exists(existing) || fs::is_regular_file(existing);
  std::string tmp;
  int fd = -1;
  if (replace) {
    tmp = (target.parent_path() / ("." + target.filename().string() + ".sluice-XXXXXX")).string();
    fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd >= 0) ::fchmod(fd, g_file_mode);
  } else {
    fd = ::open(j.local_path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  }
  if (fd < 0) return Status::Unavailable(fmt::format("{}: {}", j.local_path, strerror(errno)));
  const uint64_t ranges = std::max<uint64_t>(1, (j.size + kRange - 1) / kRange);
  std::atomic<uint64_t> next{0};
  std::mutex mu;
  Status result = Status::OK();
  auto work = [&] {
    std::string buf(std::min<uint64_t>(std::max<uint64_t>(j.size, 1), kRange), '\0');
    for (uint64_t i; (i = next++) < ranges;) {
      const uint64_t at = i * kRange;
      auto n = CopyRange(c, j, fd, at, std::span<char>(buf.data(), buf.size()));
      // The last range may be short; an earlier short one means the object shrank.
      if (n.ok() && *n < buf.size() && i + 1 < ranges) {
        n = Status::FailedPrecondition(fmt::format("{} changed while copied", j.cluster_path));
      }
      if (!n.ok()) {
        std::lock_guard lock(mu);
        if (result.ok()) result = n.status();
        next = ranges;  // stop the others
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  for (uint64_t t = 1; t < std::min(ranges, kRangeThreads); ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (::close(fd) != 0 && result.ok()) {
    result = Status::ResourceExhausted(fmt::format("{}: {}", j.local_path, strerror(errno)));
  }
  if (!replace) return result;
  if (result.ok() && ::rename(tmp.c_str(), j.local_path.c_str()) != 0) {
    result = Status::Unavailable(fmt::format("{}: {}", j.local_path, strerror(errno)));
  }
  if (!result.ok()) ::unlink(tmp.c_str());  // no half-written files left behind
  return result;
}

Status Upload(Client& c, const Job& j) {
  int fd = ::open(j.local_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::NotFound(fmt::format("{}: {}", j.local_path, strerror(errno)));
  struct stat st {};
  ::fstat(fd, &st);
  auto r = c.Write(j.cluster_path, static_cast<uint64_t>(st.st_size),
                   [fd, &j](std::span<char> out) -> Result<size_t> {
                     ssize_t n = ::read(fd, out.data(), out.size());
                     if (n < 0) {
                       return Status::Unavailable(fmt::format("{}: {}", j.local_path, strerror(errno)));
                     }
                     return static_cast<size_t>(n);
                   });
  ::close(fd);
  return r.status();
}

// The jobs of a recursive download: every object under `prefix`, page by page.
Status ListDownloads(Client& c, const std::string& prefix, const std::string& dst,
                     std::vector<Job>* jobs) {
  std::string dir = prefix.ends_with("/") ? prefix : prefix + "/";
  std::string token;
  do {
    SLUICE_ASSIGN_OR_RETURN(auto page, c.List(prefix, "", token, 1000));
    for (const auto& o : page.objects) {
      std::string rel = o.path.starts_with(dir) ? o.path.substr(dir.size()) : o.path;
      if (rel.empty() || rel.ends_with("/")) continue;
      // A key is a name, not a path to follow: one that would leave `dst` ("a/../../x", or
      // "/etc/x" left of "a//etc/x", which a path join reads as absolute) is refused.
      const fs::path local = fs::path(rel).lexically_normal();
      if (local.empty() || local.is_absolute() || *local.begin() == "..") {
        jobs->push_back({o.path, "", o.size,
                         fmt::format("{} names no file inside {}", o.path, dst)});
        continue;
      }
      jobs->push_back({o.path, (fs::path(dst) / local).string(), o.size, ""});
    }
    token = page.next_token;
  } while (!token.empty());
  return Status::OK();
}

int Cp(const CpFlags& f) {
  std::string src_path, dst_path;
  bool src_cluster = ClusterPath(f.src, true, &src_path);
  bool dst_cluster = ClusterPath(f.dst, true, &dst_path);
  if (src_cluster == dst_cluster) {
    return Fail(Status::InvalidArgument(
        "cp copies between the cluster and local files: exactly one of SRC and DST must be a "
        "cluster path (sluice://NAME/...)"));
  }
  const mode_t mask = ::umask(0);
  ::umask(mask);
  g_file_mode = 0644 & ~mask;
  auto c = ConnectFrom(f.client);
  if (!c.ok()) return Fail(c.status());
  Client& client = **c;
  std::vector<Job> jobs;
  if (src_cluster) {
    auto st = client.Stat(src_path);
    bool is_dir = !st.ok() || st->is_dir;
    if (st.ok() && !st->is_dir) {
      std::string local = f.dst;
      if (fs::is_directory(local)) local = (fs::path(local) / fs::path(src_path).filename()).string();
      jobs.push_back({src_path, local, st->size});
    } else if (is_dir && f.recursive) {
      if (Status s = ListDownloads(client, src_path, f.dst, &jobs); !s.ok()) return Fail(s);
      if (jobs.empty() && !st.ok()) return Fail(st.status());
    } else {
      return Fail(st.ok() ? Status::InvalidArgument(src_path + " is a directory: use -r")
                          : st.status());
    }
  } else {
    std::error_code ec;
    if (fs::is_directory(f.src, ec)) {
      if (!f.recursive) return Fail(Status::InvalidArgument(f.src + " is a directory: use -r"));
      for (auto it = fs::recursive_directory_iterator(f.src, ec); !ec && it != fs::end(it);
           it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        std::string rel = fs::relative(it->path(), f.src).string();
        std::string dst = dst_path.ends_with("/") ? dst_path + rel : dst_path + "/" + rel;
        jobs.push_back({dst, it->path().string(), it->file_size()});
      }
      if (ec) return Fail(Status::Unavailable(fmt::format("{}: {}", f.src, ec.message())));
    } else if (fs::exists(f.src, ec)) {
      std::string dst = dst_path.ends_with("/") ? dst_path + fs::path(f.src).filename().string()
                                                : dst_path;
      jobs.push_back({dst, f.src, fs::file_size(f.src, ec)});
    } else {
      return Fail(Status::NotFound(f.src + ": no such file or directory"));
    }
  }

  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0};
  std::mutex mu;
  std::vector<std::string> failures;
  auto start = std::chrono::steady_clock::now();
  auto work = [&] {
    for (size_t i; (i = next++) < jobs.size();) {
      Status s = src_cluster ? Download(client, jobs[i]) : Upload(client, jobs[i]);
      if (s.ok()) {
        bytes += jobs[i].size;
      } else {
        std::lock_guard lock(mu);
        failures.push_back(fmt::format("{}: {}", src_cluster ? jobs[i].cluster_path
                                                             : jobs[i].local_path,
                                       s.ToString()));
      }
    }
  };
  std::vector<std::thread> threads;
  int n = std::clamp<int>(f.jobs, 1, 256);
  for (int i = 1; i < std::min<int>(n, static_cast<int>(jobs.size())); ++i) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (f.client.json) {
    fmt::print("{}\n", nlohmann::json{{"files", jobs.size()},
                                      {"copied", jobs.size() - failures.size()},
                                      {"bytes", bytes.load()},
                                      {"seconds", secs},
                                      {"failures", failures}}
                           .dump(2));
  } else if (!f.quiet) {
    fmt::print(stderr, "copied {} of {} file(s), {} in {:.2f}s ({}/s)\n",
               jobs.size() - failures.size(), jobs.size(), FormatSize(bytes), secs,
               FormatSize(static_cast<uint64_t>(bytes / std::max(secs, 1e-6))));
  }
  for (const auto& e : failures) fmt::print(stderr, "failed: {}\n", e);
  return failures.empty() ? 0 : 1;
}

}  // namespace

void RegisterCp(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<CpFlags>();
  auto* cmd = app->add_subcommand("cp", "Copy files between the cluster and local disk");
  AddClientFlags(cmd, &flags->client);
  cmd->add_option("src", flags->src, "source: sluice://NAME/path or a local path")->required();
  cmd->add_option("dst", flags->dst, "destination: sluice://NAME/path or a local path")->required();
  cmd->add_flag("-r,--recursive", flags->recursive, "copy a directory");
  cmd->add_option("-j,--jobs", flags->jobs, "files copied at once (default 16)");
  cmd->add_flag("-q,--quiet", flags->quiet, "no summary line");
  cmd->callback([flags, exit_code] { *exit_code = Cp(*flags); });
}

}  // namespace sluice::cli
