#include "worker/load_jobs.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/logging.h"
#include "common/thread_pool.h"
#include "pagestore/file_util.h"

namespace sluice::worker {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr uint64_t kChunk = 4 << 20;  // bytes read per call while loading or verifying
constexpr int kListAttempts = 5;      // tries per listing page while the store is away

// Placement blocks of an object of `size` bytes: one up to the block size (the object is
// placed whole), else one per block.
uint64_t BlocksOf(uint64_t size, uint64_t block_size) {
  return size > block_size ? (size + block_size - 1) / block_size : 1;
}

}  // namespace

bool LoadSpec::ValidId(std::string_view id) {
  return !id.empty() && id.size() <= 64 && id[0] != '.' &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
         });
}

Status LoadSpec::Validate() const {
  if (!ValidId(id)) return Status::InvalidArgument("a load job id is 1 to 64 of A-Z a-z 0-9 . _ -");
  if (path.empty() || path[0] != '/') {
    return Status::InvalidArgument(fmt::format("'{}' is not a namespace path (/NAME/...)", path));
  }
  if (replicas < 0 || replicas > 16) return Status::InvalidArgument("replicas must be 0..16");
  if (concurrency < 1 || concurrency > 256) {
    return Status::InvalidArgument("concurrency must be 1..256");
  }
  return Status::OK();
}

json LoadSpec::ToJson() const {
  return json{{"id", id},
              {"path", path},
              {"recursive", recursive},
              {"metadata_only", metadata_only},
              {"verify", verify},
              {"replicas", replicas},
              {"bandwidth", bandwidth},
              {"concurrency", concurrency}};
}

Result<LoadSpec> LoadSpec::FromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("a load spec is a JSON object");
  LoadSpec s;
  try {
    s.id = j.at("id").get<std::string>();
    s.path = j.at("path").get<std::string>();
    s.recursive = j.value("recursive", false);
    s.metadata_only = j.value("metadata_only", false);
    s.verify = j.value("verify", false);
    s.replicas = j.value("replicas", 0);
    s.bandwidth = j.value("bandwidth", uint64_t{0});
    s.concurrency = j.value("concurrency", 16);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(fmt::format("bad load spec: {}", e.what()));
  }
  SLUICE_RETURN_IF_ERROR(s.Validate());
  return s;
}

struct LoadJobs::Job {
  LoadSpec spec;
  std::mutex mu;
  std::string state = "running";  // running | done | stopped | failed
  std::string error;
  std::string cursor;  // the next listing starts after this key
  std::string lister;  // the member whose listing pages this worker reads ("": its own)
  std::vector<std::string> members;  // the cluster's members when the job was submitted
  bool listing_done = false;
  uint64_t listed = 0, files_total = 0, files_done = 0, bytes_done = 0, failed = 0,
           mismatched = 0;
  std::vector<std::pair<std::string, std::string>> failures;
  std::vector<std::string> mismatches;
  int64_t started_ms = 0, ended_ms = 0;
  std::mutex persist_mu;              // one checkpoint write at a time (job thread, Stop)
  std::atomic<bool> stop{false};      // asked to stop (sluice load --stop)
  std::atomic<bool> shutdown{false};  // the worker is stopping: keep the checkpoint running
  std::mutex thread_mu;  // joins
  std::thread thread;

  std::mutex rate_mu;
  std::chrono::steady_clock::time_point next_send{};  // GUARDED_BY(rate_mu)

  bool Halted() const { return stop.load() || shutdown.load(); }

  json ToJson() {  // REQUIRES: mu
    json f = json::array();
    for (const auto& [p, e] : failures) f.push_back(json{{"path", p}, {"error", e}});
    return json{{"id", spec.id},          {"spec", spec.ToJson()},
                {"state", state},         {"error", error},
                {"lister", lister},       {"members", members},
                {"cursor", cursor},       {"listing_done", listing_done},
                {"listed", listed},       {"files_total", files_total},
                {"files_done", files_done}, {"bytes_done", bytes_done},
                {"failed", failed},       {"mismatched", mismatched},
                {"failures", f},          {"mismatches", mismatches},
                {"started_ms", started_ms}, {"ended_ms", ended_ms},
                {"stop_requested", stop.load()}};
  }

  void Fail(const std::string& path, const Status& s) {
    std::lock_guard lock(mu);
    failed++;
    if (failures.size() < kMaxFailures) failures.emplace_back(path, s.ToString());
  }

  // Waits until `bytes` more fit under the bandwidth limit.
  void Throttle(uint64_t bytes) {
    if (spec.bandwidth == 0) return;
    std::chrono::steady_clock::time_point at;
    {
      std::lock_guard lock(rate_mu);
      auto now = std::chrono::steady_clock::now();
      if (next_send < now) next_send = now;
      at = next_send;
      next_send += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(static_cast<double>(bytes) /
                                        static_cast<double>(spec.bandwidth)));
    }
    while (!Halted() && std::chrono::steady_clock::now() < at) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          at - std::chrono::steady_clock::now(), std::chrono::milliseconds(100)));
    }
  }
};

LoadJobs::LoadJobs(Deps deps)
    : deps_(std::move(deps)), prefetchers_(std::make_unique<ThreadPool>(8)) {
  if (!deps_.state_dir.empty()) {
    std::error_code ec;
    fs::create_directories(fs::path(deps_.state_dir) / "jobs", ec);
    if (ec) SLUICE_LOG_WARN("load jobs will not survive a restart: {}: {}", deps_.state_dir, ec.message());
  }
}

LoadJobs::~LoadJobs() { Shutdown(); }

void LoadJobs::Shutdown() {
  stopping_ = true;      // queued prefetches are skipped
  prefetchers_.reset();
  std::vector<std::shared_ptr<Job>> jobs;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, job] : jobs_) jobs.push_back(job);
  }
  for (auto& job : jobs) job->shutdown = true;
  for (auto& job : jobs) {
    std::lock_guard lock(job->thread_mu);
    if (job->thread.joinable()) job->thread.join();
  }
}

std::string LoadJobs::FileOf(const std::string& id) const {
  return (fs::path(deps_.state_dir) / "jobs" / (id + ".json")).string();
}

void LoadJobs::Persist(Job& job) {
  if (deps_.state_dir.empty()) return;
  std::lock_guard write(job.persist_mu);
  std::string text;
  {
    std::lock_guard lock(job.mu);
    text = job.ToJson().dump(-1, ' ', false, json::error_handler_t::replace);
  }
  // Durable, and a write that fails (a full disk) leaves the last checkpoint whole.
  if (Status s = pagestore::ReplaceFileDurably(FileOf(job.spec.id), text); !s.ok()) {
    SLUICE_LOG_WARN("load job {}: checkpoint not saved: {}", job.spec.id, s.ToString());
  }
}

void LoadJobs::LoadPersisted() {
  if (deps_.state_dir.empty()) return;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(deps_.state_dir) / "jobs", ec)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
    auto job = std::make_shared<Job>();
    try {  // a checkpoint of another shape is skipped, never a crash at every start
      if (j.is_discarded() || !j.contains("spec")) throw std::runtime_error("no spec");
      auto spec = LoadSpec::FromJson(j["spec"]);
      if (!spec.ok()) throw std::runtime_error(spec.status().ToString());
      job->spec = *spec;
      job->state = j.value("state", "failed");
      job->error = j.value("error", "");
      job->cursor = j.value("cursor", "");
      for (const auto& m : j.value("members", json::array())) {
        if (m.is_string()) job->members.push_back(m.get<std::string>());
      }
      job->listing_done = j.value("listing_done", false);
      job->listed = j.value("listed", uint64_t{0});
      job->files_total = j.value("files_total", uint64_t{0});
      job->files_done = j.value("files_done", uint64_t{0});
      job->bytes_done = j.value("bytes_done", uint64_t{0});
      job->failed = j.value("failed", uint64_t{0});
      job->mismatched = j.value("mismatched", uint64_t{0});
      for (const auto& f : j.value("failures", json::array())) {
        if (f.is_object()) job->failures.emplace_back(f.value("path", ""), f.value("error", ""));
      }
      for (const auto& m : j.value("mismatches", json::array())) {
        if (m.is_string()) job->mismatches.push_back(m.get<std::string>());
      }
      job->started_ms = j.value("started_ms", int64_t{0});
      job->ended_ms = j.value("ended_ms", int64_t{0});
      // Asked to stop before the worker went away: it stays stopped, never resumed.
      if (j.value("stop_requested", false) && job->state == "running") job->state = "stopped";
    } catch (const std::exception& e) {
      // A checkpoint that cannot be read (cut by a crash, or of another shape) is a job
      // this worker no longer knows the state of: it answers as failed, saying so, rather
      // than forgetting the job (which a status would take for "nothing to do here").
      SLUICE_LOG_WARN("unreadable load job checkpoint {}: {}", entry.path().string(), e.what());
      const std::string id = entry.path().stem().string();
      if (!LoadSpec::ValidId(id)) continue;
      job = std::make_shared<Job>();
      job->spec.id = id;
      job->state = "failed";
      job->error = fmt::format("its checkpoint {} cannot be read ({}): the part of this worker "
                               "is unknown; load again",
                               entry.path().string(), e.what());
    }
    std::lock_guard lock(mu_);
    if (jobs_.count(job->spec.id)) continue;
    jobs_[job->spec.id] = job;
    if (job->state == "running") to_resume_.push_back(job);
  }
}

void LoadJobs::StartResumed() {
  std::vector<std::shared_ptr<Job>> jobs;
  {
    std::lock_guard lock(mu_);
    jobs.swap(to_resume_);
  }
  for (auto& job : jobs) {
    SLUICE_LOG_INFO("resuming load job {} ({}) after {}", job->spec.id, job->spec.path,
                    job->cursor.empty() ? "the start" : job->cursor);
    Start(job);
  }
}

Result<json> LoadJobs::Submit(const LoadSpec& spec) {
  SLUICE_RETURN_IF_ERROR(spec.Validate());
  {
    std::lock_guard lock(mu_);
    if (auto it = jobs_.find(spec.id); it != jobs_.end()) {
      std::lock_guard l(it->second->mu);
      return it->second->ToJson();
    }
  }
  SLUICE_ASSIGN_OR_RETURN(ufs::Resolved r, deps_.mounts->Resolve(spec.path));
  if (!r.store) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not in a mount: load /NAME or a path below it", spec.path));
  }
  // Something must be there: an object, or objects below the path.
  bool found = false;
  if (!r.key.empty()) {
    auto st = r.store->Stat(r.key);
    if (st.ok() && !st->is_dir) found = true;
    if (!st.ok() && !st.status().Is(StatusCode::kNotFound)) return st.status();
  }
  if (!found) {
    ufs::ListOptions o;
    o.prefix = ufs::DirPrefix(r.key);
    o.delimiter = "/";
    o.max_keys = 1;
    SLUICE_ASSIGN_OR_RETURN(auto page, r.store->List(o));
    found = !page.objects.empty() || !page.common_prefixes.empty();
  }
  if (!found) {
    return Status::NotFound(fmt::format("nothing to load at {}: no object there or below it",
                                        spec.path));
  }
  auto job = std::make_shared<Job>();
  job->spec = spec;
  job->started_ms = NowMs();
  if (deps_.lister) job->lister = deps_.lister(spec);  // in the first answer already
  if (deps_.members) job->members = deps_.members();
  json answer;
  Forget();
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = jobs_.emplace(spec.id, job);
    if (!inserted) job = it->second;  // submitted meanwhile
    std::lock_guard l(job->mu);
    answer = job->ToJson();
    if (!inserted) return answer;
  }
  Persist(*job);
  Start(job);
  return answer;
}

void LoadJobs::Forget() {
  std::vector<std::shared_ptr<Job>> gone;
  {
    std::lock_guard lock(mu_);
    if (jobs_.size() < kMaxJobs) return;
    std::vector<std::pair<int64_t, std::string>> finished;
    for (auto& [id, job] : jobs_) {
      std::lock_guard l(job->mu);
      if (job->state != "running") finished.emplace_back(job->ended_ms, id);
    }
    std::sort(finished.begin(), finished.end());
    const size_t excess = jobs_.size() - kMaxJobs / 2;  // down to half: not at every submit
    for (size_t i = 0; i < finished.size() && i < excess; ++i) {
      auto it = jobs_.find(finished[i].second);
      gone.push_back(it->second);
      jobs_.erase(it);
    }
  }
  for (auto& job : gone) {
    {
      std::lock_guard lock(job->thread_mu);
      if (job->thread.joinable()) job->thread.join();
    }
    if (!deps_.state_dir.empty()) {
      std::error_code ec;
      fs::remove(FileOf(job->spec.id), ec);
    }
  }
}

Result<json> LoadJobs::Get(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Status::NotFound(fmt::format("no load job {}", id));
  std::lock_guard l(it->second->mu);
  return it->second->ToJson();
}

Result<json> LoadJobs::Stop(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    // A job this worker missed (down at its submission): remembered as stopped, so the
    // follower that resubmits it to latecomers does not start it here after its stop.
    if (LoadSpec::ValidId(id) && jobs_.size() < kMaxJobs) {
      auto tomb = std::make_shared<Job>();
      tomb->spec.id = id;
      tomb->state = "stopped";
      tomb->stop = true;
      tomb->started_ms = tomb->ended_ms = NowMs();
      jobs_[id] = tomb;
    }
    return Status::NotFound(fmt::format("no load job {}", id));
  }
  it->second->stop = true;
  // A worker killed before the job winds down must not resume it. (A stop remembered for
  // a job this worker never had has nothing to save.)
  if (!it->second->spec.path.empty()) Persist(*it->second);
  std::lock_guard l(it->second->mu);
  return it->second->ToJson();
}

json LoadJobs::List() {
  json out = json::array();
  std::lock_guard lock(mu_);
  for (auto& [id, job] : jobs_) {
    std::lock_guard l(job->mu);
    out.push_back(json{{"id", id},
                       {"path", job->spec.path},
                       {"state", job->state},
                       {"files_done", job->files_done},
                       {"files_total", job->files_total},
                       {"bytes_done", job->bytes_done},
                       {"failed", job->failed}});
  }
  return out;
}

size_t LoadJobs::Prefetch(const std::vector<std::string>& paths) {
  size_t queued = 0;
  if (stopping_ || !prefetchers_) return 0;
  for (const auto& p : paths) {
    if (prefetchers_->Pending() >= kMaxPrefetchQueue) {
      prefetch_dropped_ += paths.size() - queued;
      break;
    }
    prefetchers_->Submit([this, p] { PrefetchOne(p); });
    queued++;
  }
  prefetch_queued_ += queued;
  return queued;
}

void LoadJobs::PrefetchOne(const std::string& path) {
  if (stopping_) return;
  // Already cached (a later epoch): nothing to read, not even from the cache.
  if (auto cached = deps_.cache->CachedStat(path); cached && !cached->info.is_dir) {
    const uint64_t ps = deps_.cache->options().page_size;
    bool all = true;
    for (uint64_t p = 0; all && p * ps < cached->info.size; ++p) {
      all = deps_.cache->page_store()->Contains(pagestore::PageKey{cached->file_id, p});
    }
    if (all) {
      prefetch_cached_++;
      prefetch_loaded_++;
      return;
    }
  }
  auto st = deps_.cache->Stat(path);
  if (!st.ok() || st->is_dir) {
    prefetch_failed_++;
    return;
  }
  const uint64_t bs = deps_.block_size();
  const uint64_t blocks = BlocksOf(st->size, bs);
  thread_local std::string buf;
  bool any = false;
  for (uint64_t b = 0; b < blocks; ++b) {
    if (blocks > 1 && !deps_.owns(path, b, 0)) continue;
    any = true;
    const uint64_t off = blocks > 1 ? b * bs : 0;
    const uint64_t len = blocks > 1 ? std::min(bs, st->size - off) : st->size;
    for (uint64_t done = 0; done < len;) {
      const uint64_t n = std::min(kChunk, len - done);
      buf.resize(n);
      auto got = deps_.cache->Read(path, off + done, std::span<char>(buf.data(), n));
      if (!got.ok() || *got == 0) {
        prefetch_failed_++;
        return;
      }
      done += *got;
    }
  }
  if (any) prefetch_loaded_++;
}

LoadTotals LoadJobs::Totals() const {
  LoadTotals t{files_.load(), bytes_.load(), failures_.load(), mismatches_.load(), 0,
               prefetch_queued_.load(), prefetch_loaded_.load(), prefetch_dropped_.load(),
               prefetch_failed_.load(), prefetch_cached_.load()};
  std::lock_guard lock(mu_);
  for (const auto& [id, job] : jobs_) {
    std::lock_guard l(job->mu);
    t.running += job->state == "running";
  }
  return t;
}

void LoadJobs::Start(std::shared_ptr<Job> job) {
  std::lock_guard lock(job->thread_mu);
  job->thread = std::thread([this, job] { Run(job); });
}

void LoadJobs::Run(std::shared_ptr<Job> job) {
  const LoadSpec& spec = job->spec;
  auto finish = [&](std::string state, std::string error) {
    {
      std::lock_guard lock(job->mu);
      job->state = std::move(state);
      job->error = std::move(error);
      job->ended_ms = NowMs();
    }
    Persist(*job);
  };
  auto r = deps_.mounts->Resolve(spec.path);
  if (!r.ok() || !r->store) {
    return finish("failed", r.ok() ? "not in a mount" : r.status().ToString());
  }
  if (deps_.lister) {
    std::string lister = deps_.lister(spec);
    std::lock_guard lock(job->mu);
    job->lister = std::move(lister);
  }
  ThreadPool pool(static_cast<size_t>(spec.concurrency));
  std::mutex pending_mu;
  std::condition_variable pending_cv;
  size_t pending = 0;
  auto submit = [&](ufs::ObjectInfo info) {
    {
      std::lock_guard lock(pending_mu);
      pending++;
    }
    pool.Submit([&, info = std::move(info)] {
      if (!job->Halted()) LoadObject(*job, *r, info);
      std::lock_guard lock(pending_mu);
      if (--pending == 0) pending_cv.notify_all();
    });
  };
  auto drain = [&] {
    std::unique_lock lock(pending_mu);
    pending_cv.wait(lock, [&] { return pending == 0; });
  };
  // Queues `info` when this worker owns some of it.
  auto consider = [&](const ufs::ObjectInfo& info) {
    {
      std::lock_guard lock(job->mu);
      job->listed++;
    }
    if (info.is_dir) return;
    const std::string path = "/" + r->mount + "/" + info.key;
    const uint64_t bs = deps_.block_size();
    const uint64_t blocks = BlocksOf(info.size, bs);
    bool mine = false;
    for (uint64_t b = 0; b < blocks && !mine; ++b) mine = deps_.owns(path, blocks > 1 ? b : 0, spec.replicas);
    if (!mine) return;
    {
      std::lock_guard lock(job->mu);
      job->files_total++;
    }
    submit(info);
  };

  // A stop that came after every object was loaded (or failed) stopped nothing: done.
  auto end_state = [&]() -> const char* {
    std::lock_guard lock(job->mu);
    const bool all = job->listing_done && job->files_done + job->failed >= job->files_total;
    return job->stop && !all ? "stopped" : "done";
  };

  // Under-store calls are retried while the store is unavailable (a restart, a blip).
  auto retrying = [&](auto call) {
    decltype(call()) res = Status::Unavailable("not called");
    for (int attempt = 0; attempt < kListAttempts && !job->Halted(); ++attempt) {
      res = call();
      if (res.ok() || !res.status().Is(StatusCode::kUnavailable)) break;
      std::this_thread::sleep_for(std::chrono::seconds(1) * (attempt + 1));
    }
    return res;
  };

  // One object. A key that is not an object (missing: maybe a prefix) is listed below;
  // one the store cannot tell about fails the job rather than ending it empty.
  if (!r->key.empty()) {
    auto st = retrying([&] { return r->store->Stat(r->key); });
    if (!st.ok() && !st.status().Is(StatusCode::kNotFound) && !job->Halted()) {
      return finish("failed", fmt::format("stat {}: {}", spec.path, st.status().ToString()));
    }
    if (st.ok() && !st->is_dir) {
      if (st->key.empty()) st->key = r->key;
      consider(*st);
      drain();
      {
        std::lock_guard lock(job->mu);
        job->listing_done = true;
      }
      if (job->shutdown && !job->stop) return;
      return finish(end_state(), "");
    }
  }

  ufs::ListOptions o;
  o.prefix = ufs::DirPrefix(r->key);
  o.delimiter = spec.recursive ? "" : "/";
  {
    std::lock_guard lock(job->mu);
    o.start_after = job->cursor;
  }
  auto list = [&](const ufs::ListOptions& opts) {
    return retrying([&] { return deps_.list ? deps_.list(spec, *r, opts) : r->store->List(opts); });
  };
  auto page = list(o);
  while (true) {
    if (job->Halted()) break;
    if (!page.ok()) {
      drain();
      return finish("failed", fmt::format("listing {}: {}", spec.path, page.status().ToString()));
    }
    for (const auto& info : page->objects) consider(info);
    // The next page is listed while this one loads.
    Result<ufs::ListPage> next = Status::Unavailable("not listed");
    if (page->truncated) {
      ufs::ListOptions n = o;
      n.start_after.clear();
      n.continuation_token = page->next_token;
      next = list(n);
    }
    drain();
    if (job->Halted()) break;
    {
      std::lock_guard lock(job->mu);
      if (!page->objects.empty()) job->cursor = page->objects.back().key;
      job->listing_done = !page->truncated;
    }
    if (!page->truncated) break;
    Persist(*job);  // the checkpoint a restart resumes from
    page = std::move(next);
  }
  drain();
  // Stopped by the worker going away: the checkpoint stays "running", the next start resumes.
  if (job->shutdown && !job->stop) return;
  finish(end_state(), "");
}

void LoadJobs::LoadObject(Job& job, const ufs::Resolved& where, const ufs::ObjectInfo& listed) {
  const LoadSpec& spec = job.spec;
  const std::string path = "/" + where.mount + "/" + listed.key;
  ufs::ObjectInfo info = listed;
  // The store's stat of the object now, into `info` (kept as it was if the store cannot
  // say). Returns whether it could.
  auto restat = [&] {
    auto now = where.store->Stat(listed.key);
    if (!now.ok() || now->is_dir) return false;
    info = *now;
    if (info.key.empty()) info.key = listed.key;
    return true;
  };
  bool mismatch = false;
  if (auto cached = deps_.cache->CachedStat(path);
      cached && cached->info.Version() != listed.Version()) {
    // The cache knows another version than the listing. The listing may be the stale one
    // (a job's pages are a snapshot, and the object was written through Sluice since):
    // the store says which is current.
    (void)restat();
    if (info.Version() != cached->info.Version()) {
      // The cache's version is not the store's: it changed behind the cache.
      mismatch = spec.verify;
      deps_.cache->Forget(path, cached->info);
    }
  }
  deps_.cache->Remember(path, info);  // the newest stat known
  uint64_t loaded = 0;
  if (!spec.metadata_only) {
    const uint64_t bs = deps_.block_size();
    uint64_t blocks = BlocksOf(info.size, bs);
    thread_local std::string buf;
    // With --verify, a block whose cached bytes differ from the store's drops every page
    // of the object (blocks loaded before it included), so the owned blocks are all
    // loaded again, from the store, in a second pass.
    bool verify = spec.verify;
    bool restated = false;
    for (uint64_t b = 0; b < blocks; ++b) {
      if (job.Halted()) return;
      if (!deps_.owns(path, blocks > 1 ? b : 0, spec.replicas)) continue;
      const uint64_t off = blocks > 1 ? b * bs : 0;
      const uint64_t len = blocks > 1 ? std::min(bs, info.size - off) : info.size;
      (void)ReadThroughCache::TakeRefusedPut();
      Status s = LoadRange(job, path, off, len, &buf, info.Version());
      if (job.Halted()) return;  // stopped midway: not loaded, not failed
      if (s.Is(StatusCode::kFailedPrecondition) && !restated) {
        // The object changed since the listing named it (written since, through Sluice or
        // not): what the store holds now is loaded instead, from the first block.
        restated = true;
        if (restat()) {
          deps_.cache->Remember(path, info);
          blocks = BlocksOf(info.size, bs);
          loaded = 0;
          b = static_cast<uint64_t>(-1);
          continue;
        }
      }
      if (s.ok() && verify) {
        Result<bool> same = VerifyRange(job, where, info, off, len, &buf);
        if (job.Halted()) return;
        if (!same.ok()) {
          s = same.status();  // could not compare: a failure, not a difference
        } else if (!*same) {
          mismatch = true;
          verify = false;
          deps_.cache->Forget(path, info);
          deps_.cache->InvalidateStat(path);
          loaded = 0;
          b = static_cast<uint64_t>(-1);  // again from the first block
          continue;
        }
      }
      // Read is not cached: a page store that refused the pages (full of pinned pages, a
      // quota, eviction `none`) served them pass-through. That is a failure to load.
      if (s.ok() && ReadThroughCache::TakeRefusedPut()) {
        s = Status::ResourceExhausted("read, but not cached: the page store refused its pages");
      }
      if (!s.ok()) {
        job.Fail(path, s);
        failures_++;
        return;
      }
      loaded += len;
    }
  }
  std::lock_guard lock(job.mu);
  job.files_done++;
  job.bytes_done += loaded;
  files_++;
  bytes_ += loaded;
  if (mismatch) {
    job.mismatched++;
    mismatches_++;
    if (job.mismatches.size() < kMaxFailures) job.mismatches.push_back(path);
  }
}

Status LoadJobs::LoadRange(Job& job, const std::string& path, uint64_t offset, uint64_t length,
                           std::string* buf, std::string_view version) {
  if (length == 0) return deps_.cache->Stat(path).status();
  for (uint64_t done = 0; done < length;) {
    const uint64_t n = std::min(kChunk, length - done);
    job.Throttle(n);
    if (job.Halted()) return Status::OK();
    buf->resize(n);
    SLUICE_ASSIGN_OR_RETURN(
        size_t got, deps_.cache->Read(path, offset + done, std::span<char>(buf->data(), n), version));
    if (got == 0) {
      return Status::IoError(fmt::format("{} ended at {} of {} bytes", path, offset + done,
                                         offset + length));
    }
    done += got;
  }
  return Status::OK();
}

// Whether the cached bytes of [offset, offset + length) equal the under store's; an error
// when either could not be read (that is no evidence of a difference).
Result<bool> LoadJobs::VerifyRange(Job& job, const ufs::Resolved& where,
                                   const ufs::ObjectInfo& info, uint64_t offset, uint64_t length,
                                   std::string* cached) {
  const std::string path = "/" + where.mount + "/" + info.key;
  for (uint64_t done = 0; done < length;) {
    const uint64_t n = std::min(kChunk, length - done);
    cached->resize(n);
    auto got = deps_.cache->Read(path, offset + done, std::span<char>(cached->data(), n));
    if (!got.ok()) return got.status();
    job.Throttle(n);
    if (job.Halted()) return true;  // the caller stops
    auto theirs = where.store->Read(info.key, offset + done, n);
    if (!theirs.ok()) return theirs.status();
    cached->resize(*got);
    if (*cached != *theirs) return false;
    if (*got == 0) break;
    done += *got;
  }
  return true;
}

}  // namespace sluice::worker
