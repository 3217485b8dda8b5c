// The dataset commands: `sluice load`, `free`, `pin` and `unpin` (docs/load.md).
//
// `load` submits one job, with the same id, to every worker (each loads what it owns;
// worker/load_jobs.h), then follows it: a progress bar on a terminal, plain lines
// otherwise, a JSON summary with --json. A worker that cannot be reached is waited for
// (a restarted worker resumes its part) up to --wait; one that does not know the job
// (it missed the submission) is given it again. Exit codes: 0 everything loaded (and,
// with --verify, nothing differed), 1 some objects failed or differed, or a worker's part
// could not be loaded; other errors as every command.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <cstdio>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "cli/client_flags.h"
#include "cli/commands.h"
#include "cli/setup.h"
#include "common/units.h"

namespace sluice::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct LoadFlags {
  ClientFlags client;
  std::string path;
  bool recursive = false;
  bool metadata_only = false;
  bool verify = false;
  int replicas = 0;
  std::string bandwidth;
  int concurrency = 16;
  bool detach = false;
  std::string status_id;
  std::string stop_id;
  std::string wait = "2m";
};

// "100MiB/s", "100MiB" or "1G" -> bytes per second.
Result<uint64_t> ParseBandwidth(std::string text) {
  if (text.ends_with("/s")) text.resize(text.size() - 2);
  auto v = ParseSize(text);
  if (!v.ok() || *v == 0) {
    return Status::InvalidArgument(fmt::format(
        "--bandwidth '{}' is not a rate like 100MiB/s (a positive size per second)", text));
  }
  return *v;
}

std::string NewJobId() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
  return fmt::format("load-{:012x}", rng() & 0xffffffffffffULL);
}

bool IsTransport(const Status& s) {
  return s.Is(StatusCode::kUnavailable) || s.Is(StatusCode::kDeadlineExceeded);
}

// The job summed over the workers.
struct Progress {
  uint64_t listed = 0, files_total = 0, files_done = 0, bytes_done = 0, failed = 0,
           mismatched = 0;
  int workers = 0, running = 0, finished = 0, unreachable = 0, failed_workers = 0;
  bool listing_done = true;
  json failures = json::array(), mismatches = json::array(), errors = json::array();
  json per_worker = json::array();
};

// `unknown_is_absent`: a worker that does not know the job (NotFound: it joined later, or
// lost its state) has no part in it, rather than a part that cannot be reached.
Progress Sum(const std::vector<WorkerAnswer>& answers, bool unknown_is_absent = false) {
  Progress p;
  for (const auto& a : answers) {
    p.workers++;
    json w{{"id", a.id}};
    if (unknown_is_absent && a.status.Is(StatusCode::kNotFound)) {
      w["state"] = "unknown";
      p.per_worker.push_back(w);
      continue;
    }
    if (!a.status.ok()) {
      p.unreachable++;
      w["error"] = a.status.ToString();
      p.per_worker.push_back(w);
      continue;
    }
    json j = json::parse(a.json, nullptr, false);
    if (!j.is_object()) continue;
    const std::string state = j.value("state", "");
    p.running += state == "running";
    p.finished += state != "running";
    if (state == "failed") {
      p.failed_workers++;
      p.errors.push_back(json{{"worker", a.id}, {"error", j.value("error", "")}});
    }
    p.listing_done = p.listing_done && j.value("listing_done", false);
    p.listed = std::max(p.listed, j.value("listed", uint64_t{0}));  // each walks it all
    p.files_total += j.value("files_total", uint64_t{0});
    p.files_done += j.value("files_done", uint64_t{0});
    p.bytes_done += j.value("bytes_done", uint64_t{0});
    p.failed += j.value("failed", uint64_t{0});
    p.mismatched += j.value("mismatched", uint64_t{0});
    for (auto& f : j.value("failures", json::array())) p.failures.push_back(f);
    for (auto& m : j.value("mismatches", json::array())) p.mismatches.push_back(m);
    w["state"] = state;
    w["listed"] = j.value("listed", uint64_t{0});
    w["files_done"] = j.value("files_done", uint64_t{0});
    w["files_total"] = j.value("files_total", uint64_t{0});
    w["bytes_done"] = j.value("bytes_done", uint64_t{0});
    p.per_worker.push_back(w);
  }
  return p;
}

// Members a job was submitted to (each worker records the cluster's members then) that
// are no longer in the cluster: their parts went with them. They are added to `answers`
// as unreachable, so a job is never done without them (docs/load.md).
void AddDeparted(std::vector<WorkerAnswer>* answers) {
  std::set<std::string> present, recorded;
  for (const auto& a : *answers) {
    present.insert(a.id);
    if (!a.status.ok()) continue;
    json j = json::parse(a.json, nullptr, false);
    if (!j.is_object()) continue;
    for (const auto& m : j.value("members", json::array())) {
      if (m.is_string()) recorded.insert(m.get<std::string>());
    }
  }
  for (const auto& id : recorded) {
    if (present.count(id)) continue;
    answers->push_back(WorkerAnswer{
        id, "", Status::Unavailable(fmt::format("{} has left the cluster", id)), ""});
  }
}

std::string FormatEta(double seconds) {
  if (seconds < 0 || seconds > 360000) return "--:--";
  auto s = static_cast<int64_t>(seconds);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

// One progress line: a bar on a terminal (rewritten in place), else a plain line.
void ShowProgress(const Progress& p, double elapsed, bool tty) {
  const double rate = elapsed > 0 ? static_cast<double>(p.bytes_done) / elapsed : 0;
  const double file_rate = elapsed > 0 ? static_cast<double>(p.files_done) / elapsed : 0;
  const uint64_t left = p.files_total > p.files_done + p.failed ? p.files_total - p.files_done - p.failed : 0;
  const std::string eta = !p.listing_done ? "listing" : FormatEta(file_rate > 0 ? left / file_rate : -1);
  std::string waiting = p.unreachable ? fmt::format("  {} worker(s) unreachable", p.unreachable) : "";
  if (tty) {
    constexpr int kWidth = 30;
    const double frac = p.files_total ? static_cast<double>(p.files_done) / p.files_total : 0;
    // Work a resumed worker redid may count twice: never past a full bar.
    int filled = std::clamp(static_cast<int>(frac * kWidth), 0, kWidth);
    if (!p.listing_done) filled = std::min(filled, kWidth - 1);
    fmt::print(stderr, "\r[{}{}] {}/{}{} files  {}  {}/s  ETA {}  {} failed{}\033[K",
               std::string(filled, '#'), std::string(kWidth - filled, '.'), p.files_done,
               p.files_total, p.listing_done ? "" : "+", FormatSize(p.bytes_done),
               FormatSize(static_cast<uint64_t>(rate)), eta, p.failed, waiting);
  } else {
    fmt::print(stderr, "load: {}/{}{} files, {}, {}/s, ETA {}, {} failed{}\n", p.files_done,
               p.files_total, p.listing_done ? "" : "+", FormatSize(p.bytes_done),
               FormatSize(static_cast<uint64_t>(rate)), eta, p.failed, waiting);
  }
  std::fflush(stderr);
}

json SummaryJson(const std::string& id, const Progress& p, double elapsed, const std::string& state) {
  return json{{"id", id},
              {"state", state},
              {"listed", p.listed},
              {"files_total", p.files_total},
              {"files_done", p.files_done},
              {"bytes_done", p.bytes_done},
              {"failed", p.failed},
              {"mismatched", p.mismatched},
              {"seconds", elapsed},
              {"failures", p.failures},
              {"mismatches", p.mismatches},
              {"errors", p.errors},
              {"workers", p.per_worker}};
}

// Prints the end of a job; returns the exit code.
int Report(const LoadFlags& f, const std::string& id, const Progress& p, double elapsed,
           const std::string& state) {
  const bool clean = state == "done" && p.failed == 0 && p.mismatched == 0 && p.failed_workers == 0;
  if (f.client.json) {
    fmt::print("{}\n", SummaryJson(id, p, elapsed, state).dump(2));
    return clean ? 0 : 1;
  }
  fmt::print("job {}: {} — {} files, {} in {:.1f}s ({}/s){}\n", id, state, p.files_done,
             FormatSize(p.bytes_done), elapsed,
             FormatSize(elapsed > 0 ? static_cast<uint64_t>(p.bytes_done / elapsed) : 0),
             f.metadata_only ? " (metadata only)" : "");
  for (const auto& e : p.errors) {
    fmt::print("  worker {} failed: {}\n", e.value("worker", ""), e.value("error", ""));
  }
  if (p.failed) {
    fmt::print("  {} object(s) failed:\n", p.failed);
    for (const auto& x : p.failures) {
      fmt::print("    {}: {}\n", x.value("path", ""), x.value("error", ""));
    }
  }
  if (p.mismatched) {
    fmt::print("  {} object(s) differed from the under store (changed behind the cache; "
               "reloaded):\n", p.mismatched);
    for (const auto& m : p.mismatches) fmt::print("    {}\n", m.get<std::string>());
  }
  return clean ? 0 : 1;
}

int Follow(const LoadFlags& f, Client& c, const std::string& id, const std::string& spec) {
  const bool tty = !f.client.json && isatty(STDERR_FILENO);
  const auto start = Clock::now();
  auto wait = ParseDuration(f.wait);
  if (!wait.ok()) return Fail(wait.status().WithContext("--wait"));
  auto last_line = Clock::now();
  std::map<std::string, Clock::time_point> lost_since;  // unreachable workers
  for (;;) {
    auto answers = c.Broadcast("GET", "load", "/", "&id=" + id);
    AddDeparted(&answers);
    for (auto& a : answers) {
      if (a.status.Is(StatusCode::kNotFound) && !spec.empty()) {
        // It missed the submission (or lost its state): give it the job.
        auto again = c.Broadcast("POST", "load", "/", "", spec);
        (void)again;
        break;
      }
    }
    if (spec.empty()) {
      // Following a stop: a worker that was down when it was sent resumes the job from
      // its checkpoint when it returns; it is told again.
      bool again = false;
      for (const auto& a : answers) {
        if (!a.status.ok()) continue;
        json j = json::parse(a.json, nullptr, false);
        again = again || (j.is_object() && j.value("state", "") == "running" &&
                          !j.value("stop_requested", false));
      }
      if (again) (void)c.Broadcast("POST", "load/stop", "/", "&id=" + id);
      // Following a job without its spec (--stop): a worker that does not know the job
      // has no part in it.
      std::erase_if(answers, [](const WorkerAnswer& a) { return a.status.Is(StatusCode::kNotFound); });
      if (answers.empty()) {  // none does any more (restarted without their state)
        fmt::print(stderr, "sluice: no worker knows load job {} any more\n", id);
        return 1;
      }
    }
    Progress p = Sum(answers);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::string gone, why;
    for (const auto& a : answers) {
      if (a.status.ok()) {
        lost_since.erase(a.id);
      } else {  // unreachable, or an error that has not cleared: waited for up to --wait
        auto [it, fresh] = lost_since.emplace(a.id, Clock::now());
        if (Clock::now() - it->second > *wait) {
          gone = a.id;
          why = a.status.ToString();
        }
      }
    }
    if (!gone.empty()) {
      if (tty) fmt::print(stderr, "\n");
      fmt::print(stderr,
                 "sluice: worker {} has been unreachable or failing for {} ({}); its part of {} "
                 "is not loaded (it resumes when the worker returns: sluice load --status {})\n",
                 gone, f.wait, why, id, id);
      Report(f, id, p, elapsed, "incomplete");
      return 1;
    }
    const bool over = p.running == 0 && p.unreachable == 0 && p.finished > 0;
    if (!f.client.json && (tty || Clock::now() - last_line > std::chrono::seconds(2) || over)) {
      ShowProgress(p, elapsed, tty);
      last_line = Clock::now();
    }
    if (over) {
      if (tty) fmt::print(stderr, "\n");
      std::string state = p.failed_workers ? "failed" : "done";
      for (const auto& w : p.per_worker) {
        if (w.value("state", "") == "stopped") state = "stopped";
      }
      return Report(f, id, p, elapsed, state);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int Load(const LoadFlags& f) {
  auto c = ConnectFrom(f.client);
  if (!c.ok()) return Fail(c.status());
  if (!f.stop_id.empty()) {
    auto answers = (*c)->Broadcast("POST", "load/stop", "/", "&id=" + f.stop_id);
    int known = 0;
    for (const auto& a : answers) known += a.status.ok();
    if (known == 0) {
      return Fail(answers.empty() ? Status::Unavailable("no workers")
                                  : answers.front().status.WithContext("load --stop"));
    }
    LoadFlags follow = f;
    return Follow(follow, **c, f.stop_id, "");
  }
  if (!f.status_id.empty()) {
    auto answers = (*c)->Broadcast("GET", "load", "/", "&id=" + f.status_id);
    AddDeparted(&answers);
    Progress p = Sum(answers, /*unknown_is_absent=*/true);
    if (p.running + p.finished == 0) {
      return Fail(answers.empty() ? Status::Unavailable("no workers")
                                  : answers.front().status.WithContext("load --status"));
    }
    std::string state = p.running ? "running" : p.failed_workers ? "failed" : "done";
    for (const auto& w : p.per_worker) {
      if (w.value("state", "") == "stopped") state = "stopped";
    }
    if (p.unreachable && !p.running) state = "incomplete";
    if (f.client.json) {
      fmt::print("{}\n", SummaryJson(f.status_id, p, 0, state).dump(2));
    } else {
      fmt::print("load {}: {}\n", f.status_id, state);
      ShowProgress(p, 0, false);
      for (const auto& w : p.per_worker) fmt::print("  {}\n", w.dump());
    }
    const bool bad = p.failed || p.mismatched || p.failed_workers || state == "stopped" ||
                     state == "incomplete";
    return bad ? 1 : 0;
  }
  if (f.path.empty()) return Fail(Status::InvalidArgument("load needs a PATH (or --status/--stop ID)"));
  std::string path;
  ClusterPath(f.path, false, &path);
  uint64_t bandwidth = 0;
  if (!f.bandwidth.empty()) {
    auto b = ParseBandwidth(f.bandwidth);
    if (!b.ok()) return Fail(b.status());
    bandwidth = *b;
  }
  // Checked before the job starts: failing after it would leave it running unnamed.
  if (auto wait = ParseDuration(f.wait); !wait.ok()) return Fail(wait.status().WithContext("--wait"));
  const auto workers = (*c)->Workers();
  if (workers.empty()) return Fail(Status::Unavailable("the cluster has no workers"));
  const std::string id = NewJobId();
  json spec{{"id", id},
            {"path", path},
            {"recursive", f.recursive},
            {"metadata_only", f.metadata_only},
            {"verify", f.verify},
            {"replicas", f.replicas},
            // The limit is the cluster's: each worker takes its share.
            {"bandwidth", bandwidth ? std::max<uint64_t>(1, bandwidth / workers.size()) : 0},
            {"concurrency", f.concurrency}};
  const std::string body = spec.dump();
  auto answers = (*c)->Broadcast("POST", "load", "/", "", body);
  int accepted = 0;
  Status refused, unreachable;
  for (const auto& a : answers) {
    if (a.status.ok()) {
      accepted++;
    } else if (IsTransport(a.status)) {
      unreachable = a.status;
    } else {
      refused = a.status;
    }
  }
  if (!refused.ok()) {
    (void)(*c)->Broadcast("POST", "load/stop", "/", "&id=" + id);
    return Fail(refused);
  }
  if (accepted == 0) return Fail(unreachable.WithContext("no worker accepted the load job"));
  if (f.detach) {
    if (f.client.json) {
      fmt::print("{}\n", json{{"id", id}, {"workers", accepted}}.dump());
    } else {
      fmt::print("{}\n", id);
      fmt::print(stderr, "load job {} started on {} worker(s); follow it with: sluice load --status {}\n",
                 id, accepted, id);
    }
    return 0;
  }
  return Follow(f, **c, id, body);
}

struct PathOnlyFlags {
  ClientFlags client;
  std::string path;
};

int FreeCmd(const PathOnlyFlags& f) {
  auto c = ConnectFrom(f.client);
  if (!c.ok()) return Fail(c.status());
  std::string path;
  ClusterPath(f.path, false, &path);
  auto freed = (*c)->Free(path);
  if (!freed.ok()) return Fail(freed.status());
  if (f.client.json) {
    fmt::print("{}\n", json{{"path", path}, {"freed_pages", *freed}}.dump());
  } else {
    fmt::print("freed {} page(s) of {}\n", *freed, path);
  }
  return 0;
}

int PinCmd(const PathOnlyFlags& f, bool pin) {
  auto c = ConnectFrom(f.client);
  if (!c.ok()) return Fail(c.status());
  std::string path;
  ClusterPath(f.path, false, &path);
  uint64_t pages = 0;
  std::vector<std::string> missed;
  auto answers = (*c)->Broadcast("POST", pin ? "pin" : "unpin", path);
  if (!pin && !answers.empty() && std::all_of(answers.begin(), answers.end(), [](const auto& a) {
        return a.status.Is(StatusCode::kNotFound);
      })) {
    return Fail(answers.front().status);  // pinned nowhere
  }
  for (const auto& a : answers) {
    if (!pin && a.status.Is(StatusCode::kNotFound)) continue;  // never had it: unpinned
    if (!a.status.ok()) {
      if (!IsTransport(a.status)) return Fail(a.status);
      missed.push_back(a.id);
      continue;
    }
    json j = json::parse(a.json, nullptr, false);
    if (j.is_object() && j["pages"].is_number_unsigned()) pages += j["pages"].get<uint64_t>();
  }
  if (f.client.json) {
    fmt::print("{}\n", json{{"path", path}, {pin ? "pinned_pages" : "unpinned_pages", pages},
                            {"unreachable", missed}}.dump());
  } else {
    fmt::print("{} {} ({} cached page(s))\n", pin ? "pinned" : "unpinned", path, pages);
  }
  if (!missed.empty()) {
    return Fail(Status::Unavailable(fmt::format("{} is not {} on {}: unreachable", path,
                                                pin ? "pinned" : "unpinned", fmt::join(missed, ", "))));
  }
  return 0;
}

void AddPathOnly(CLI::App* app, const char* name, const char* help, int* exit_code,
                 std::function<int(const PathOnlyFlags&)> run) {
  auto flags = std::make_shared<PathOnlyFlags>();
  auto* cmd = app->add_subcommand(name, help);
  AddClientFlags(cmd, &flags->client);
  cmd->add_option("path", flags->path, "namespace path: /NAME/a/b or sluice://NAME/a/b")->required();
  cmd->callback([flags, exit_code, run] { *exit_code = run(*flags); });
}

}  // namespace

void RegisterDataset(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<LoadFlags>();
  auto* cmd = app->add_subcommand(
      "load", "Load a path into the cache on every worker at once (a job that outlives the command)");
  AddClientFlags(cmd, &flags->client);
  cmd->add_option("path", flags->path, "namespace path: /NAME/dir or sluice://NAME/dir");
  cmd->add_flag("-r,--recursive", flags->recursive, "the whole tree below PATH");
  cmd->add_flag("--metadata-only", flags->metadata_only, "cache stats only, not bytes");
  cmd->add_option("--replicas", flags->replicas, "owners of each object that load it (default: the path's replicas)")
      ->check(CLI::Range(0, 16));
  cmd->add_option("--bandwidth", flags->bandwidth, "cap on the bytes loaded per second, cluster-wide (100MiB/s)");
  cmd->add_flag("--verify", flags->verify, "compare cached bytes with the under store (reloading what differs)");
  cmd->add_option("--concurrency", flags->concurrency, "objects each worker loads at once (16)")
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--detach", flags->detach, "print the job id and return");
  cmd->add_option("--status", flags->status_id, "show the progress of job ID");
  cmd->add_option("--stop", flags->stop_id, "stop job ID");
  cmd->add_option("--wait", flags->wait, "how long to wait for an unreachable worker (2m)");
  cmd->callback([flags, exit_code] { *exit_code = Load(*flags); });

  AddPathOnly(app, "free", "Drop a path's cached pages and metadata on every worker", exit_code,
              FreeCmd);
  AddPathOnly(app, "pin", "Keep a path's cached pages from eviction on every worker", exit_code,
              [](const PathOnlyFlags& f) { return PinCmd(f, true); });
  AddPathOnly(app, "unpin", "Let a pinned path's pages be evicted again", exit_code,
              [](const PathOnlyFlags& f) { return PinCmd(f, false); });
}

}  // namespace sluice::cli
