// The client commands: `sluice ls`, `stat`, `cat` and `status`, all through the client
// library (include/sluice/client.h). `cp` is in cmd_cp.cc.
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <vector>

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

json StatJson(const ObjectStat& s) {
  return {{"path", s.path},       {"size", s.size},       {"mtime_ns", s.mtime_ns},
          {"etag", s.etag},       {"version", s.version}, {"is_dir", s.is_dir}};
}

std::string FormatTime(int64_t ns) {
  std::time_t t = ns / 1000000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

struct PathFlags {
  ClientFlags client;
  std::string path = "/";
  bool recursive = false;
};

int Ls(const PathFlags& f) {
  auto c = ConnectFrom(f.client);
  if (!c.ok()) return Fail(c.status());
  std::string path;
  ClusterPath(f.path, false, &path);
  json out = json::array();
  std::string token;
  uint64_t shown = 0;
  do {
    auto page = (*c)->List(path, f.recursive ? "" : "/", token, 1000);
    if (!page.ok()) return Fail(page.status());
    if (shown == 0 && page->objects.empty() && page->prefixes.empty() && path != "/") {
      // Not a directory: maybe an object.
      auto st = (*c)->Stat(path);
      if (!st.ok()) return Fail(st.status());
      page->objects.push_back(*st);
    }
    for (const auto& p : page->prefixes) {
      if (f.client.json) {
        out.push_back({{"path", p}, {"is_dir", true}});
      } else {
        fmt::print("{:>28} {}\n", "DIR", p);
      }
      shown++;
    }
    for (const auto& o : page->objects) {
      if (f.client.json) {
        out.push_back(StatJson(o));
      } else {
        fmt::print("{} {:>12} {}\n", FormatTime(o.mtime_ns), o.size, o.path);
      }
      shown++;
    }
    token = page->next_token;
  } while (!token.empty());
  if (f.client.json) fmt::print("{}\n", out.dump(2));
  return 0;
}

int StatCmd(const PathFlags& f) {
  auto c = ConnectFrom(f.client);
  if (!c.ok()) return Fail(c.status());
  std::string path;
  ClusterPath(f.path, false, &path);
  auto st = (*c)->Stat(path);
  if (!st.ok()) return Fail(st.status());
  if (f.client.json) {
    fmt::print("{}\n", StatJson(*st).dump(2));
  } else {
    fmt::print("path:     {}\nsize:     {} ({})\nmodified: {} UTC\netag:     {}\nversion:  {}\n",
               st->path, st->size, FormatSize(st->size), FormatTime(st->mtime_ns), st->etag,
               st->version);
  }
  return 0;
}

int Cat(const PathFlags& f) {
  auto c = ConnectFrom(f.client);
  if (!c.ok()) return Fail(c.status());
  std::string path;
  ClusterPath(f.path, false, &path);
  auto r = (*c)->Open(path);
  if (!r.ok()) return Fail(r.status());
  std::string buf(4 * kMiB, '\0');
  for (;;) {
    auto n = (*r)->Read(std::span<char>(buf.data(), buf.size()));
    if (!n.ok()) return Fail(n.status());
    if (*n == 0) break;
    for (size_t done = 0; done < *n;) {
      ssize_t w = ::write(STDOUT_FILENO, buf.data() + done, *n - done);
      if (w < 0) return Fail(Status::Unavailable("stdout closed"));
      done += static_cast<size_t>(w);
    }
  }
  return 0;
}

// Pins, quotas, TTL rules and running load jobs, summed over the workers.
void PrintRules(const std::vector<WorkerReport>& reports) {
  std::vector<std::string> pins;
  std::map<std::string, std::pair<uint64_t, uint64_t>> quotas;  // mount -> (used, quota)
  std::map<std::string, uint64_t> running;                      // job id -> workers
  uint64_t pinned_pages = 0, expired = 0;
  for (const auto& r : reports) {
    if (!r.reachable) continue;
    json j = json::parse(r.json, nullptr, false);
    if (!j.is_object()) continue;
    pinned_pages += j.value("pinned_pages", uint64_t{0});
    const json rules = j.value("rules", json::object());
    if (pins.empty()) pins = rules.value("pins", std::vector<std::string>{});
    expired += rules.value("ttl_expired", uint64_t{0});
    for (const auto& q : rules.value("quotas", json::array())) {
      auto& [used, quota] = quotas[q.value("mount", "")];
      used += q.value("used_bytes", uint64_t{0});
      quota += q.value("quota_bytes", uint64_t{0});
    }
    for (const auto& job : j.value("load_jobs", json::array())) {
      if (job.value("state", "") == "running") running[job.value("id", "")]++;
    }
  }
  if (!pins.empty()) {
    fmt::print("pinned: {} ({} pages)\n", fmt::join(pins, ", "), pinned_pages);
  }
  for (const auto& [mount, q] : quotas) {
    fmt::print("quota /{}: {} of {} (all workers)\n", mount, FormatSize(q.first),
               FormatSize(q.second));
  }
  if (expired) fmt::print("ttl: {} object(s) expired\n", expired);
  for (const auto& [id, n] : running) fmt::print("load job {} running on {} worker(s)\n", id, n);
}

int StatusCmd(const ClientFlags& f) {
  auto c = ConnectFrom(f);
  if (!c.ok()) return Fail(c.status());
  auto reports = (*c)->ClusterStatus();
  int unreachable = 0;
  if (f.json) {
    json out = json::array();
    for (const auto& r : reports) {
      json w = r.reachable ? json::parse(r.json) : json::object();
      w["id"] = r.id;
      w["endpoint"] = r.endpoint;
      w["reachable"] = r.reachable;
      if (!r.reachable) w["error"] = r.state;
      out.push_back(w);
      unreachable += !r.reachable;
    }
    fmt::print("{}\n", json{{"workers", out}}.dump(2));
  } else {
    fmt::print("{:<22} {:<10} {:>10} {:>10} {:>6} {:>10} {:>10}\n", "WORKER", "STATE", "CAPACITY",
               "USED", "HIT%", "UFS READS", "UFS BYTES");
    for (const auto& r : reports) {
      if (!r.reachable) {
        fmt::print("{:<22} {:<10} {}\n", r.id, "down", r.state);
        unreachable++;
        continue;
      }
      fmt::print("{:<22} {:<10} {:>10} {:>10} {:>6.1f} {:>10} {:>10}\n", r.id, r.state,
                 FormatSize(r.capacity_bytes), FormatSize(r.used_bytes), 100 * r.hit_ratio,
                 r.ufs_reads, FormatSize(r.ufs_bytes));
    }
    PrintRules(reports);
  }
  return unreachable == 0 ? 0 : 3;
}

void AddPathCommand(CLI::App* app, const char* name, const char* help, int* exit_code,
                    int (*run)(const PathFlags&), bool recursive_flag) {
  auto flags = std::make_shared<PathFlags>();
  auto* cmd = app->add_subcommand(name, help);
  AddClientFlags(cmd, &flags->client);
  cmd->add_option("path", flags->path, "namespace path: /NAME/a/b or sluice://NAME/a/b");
  if (recursive_flag) cmd->add_flag("-r,--recursive", flags->recursive, "list recursively");
  cmd->callback([flags, exit_code, run] { *exit_code = run(*flags); });
}

}  // namespace

void RegisterClientCommands(CLI::App* app, int* exit_code) {
  AddPathCommand(app, "ls", "List a directory of the namespace", exit_code, Ls, true);
  AddPathCommand(app, "stat", "Show an object's size, version and time", exit_code, StatCmd,
                 false);
  AddPathCommand(app, "cat", "Write an object to stdout", exit_code, Cat, false);
  auto flags = std::make_shared<ClientFlags>();
  auto* cmd = app->add_subcommand(
      "status", "Each worker: address, state, capacity, use, hit ratio, under-store traffic");
  AddClientFlags(cmd, flags.get());
  cmd->callback([flags, exit_code] { *exit_code = StatusCmd(*flags); });
}

}  // namespace sluice::cli
