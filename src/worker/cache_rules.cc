#include "worker/cache_rules.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <fstream>

#include <fmt/format.h>

#include "common/logging.h"
#include "pagestore/file_util.h"

namespace sluice::worker {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// "/a/b/" -> "/a/b"; "/" stays.
std::string Trimmed(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

}  // namespace

bool PathCovers(std::string_view prefix, std::string_view path) {
  if (prefix == "/" ) return true;
  if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

Status CacheRulesConfig::Validate() const {
  for (const auto& r : ttl_rules) {
    if (r.path.size() < 2 || r.path[0] != '/') {
      return Status::InvalidArgument(
          fmt::format("ttl rule path '{}' must be a namespace path (/NAME/...)", r.path));
    }
    if (r.ttl <= Duration::zero()) {
      return Status::InvalidArgument(fmt::format("ttl rule {}: the ttl must be positive", r.path));
    }
  }
  for (const auto& [mount, bytes] : mount_quotas) {
    if (bytes == 0) return Status::InvalidArgument(fmt::format("mount quota {}: 0 bytes", mount));
  }
  return Status::OK();
}

CacheRules::CacheRules(CacheRulesConfig config, std::shared_ptr<ufs::MountTable> mounts,
                       std::shared_ptr<pagestore::PageStore> pages, std::string state_dir,
                       Clock* clock)
    : config_(std::move(config)),
      mounts_(std::move(mounts)),
      pages_(std::move(pages)),
      state_dir_(std::move(state_dir)),
      clock_(clock) {
  uint32_t group = 1;
  for (const auto& [mount, bytes] : config_.mount_quotas) {
    groups_[mount] = group;
    pages_->SetGroupQuota(group, bytes);
    group++;
  }
  if (!state_dir_.empty()) {
    std::ifstream in(fs::path(state_dir_) / "pins.json");
    if (in) {
      json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (!j.is_array()) {
        SLUICE_LOG_ERROR("{}/pins.json is not a JSON list of paths: no pins restored",
                         state_dir_);
      } else {
        for (const auto& p : j) {
          if (p.is_string()) pins_.push_back(p.get<std::string>());
        }
      }
    }
  }
}

uint32_t CacheRules::GroupOf(const std::string& mount) const {
  auto it = groups_.find(mount);
  return it == groups_.end() ? 0 : it->second;
}

const TtlRule* CacheRules::TtlFor(const std::string& path) const {
  const TtlRule* best = nullptr;
  for (const auto& r : config_.ttl_rules) {
    if (PathCovers(Trimmed(r.path), path) && (!best || r.path.size() > best->path.size())) {
      best = &r;
    }
  }
  return best;
}

namespace {

// The namespace path ("/mount/key") of a resolved object.
std::string PathOf(const ufs::Resolved& where) {
  return "/" + where.mount + (where.key.empty() ? "" : "/" + where.key);
}

}  // namespace

bool CacheRules::PinnedLocked(const std::string& path) const {
  return std::any_of(pins_.begin(), pins_.end(), [&](const auto& p) { return PathCovers(p, path); });
}

void CacheRules::RememberPinnedLocked(const Hash128& file_id, const std::string& path) {
  pinned_files_.try_emplace(file_id, path);
  auto [it, fresh] = pinned_by_path_.try_emplace(path, file_id);
  if (fresh || it->second == file_id) return;
  // A new version of a pinned path: the old one's pages are no one's data any more, and
  // pinned they could never be evicted. Released (made evictable) by the next AfterStore.
  pinned_files_.erase(it->second);
  superseded_.push_back(it->second);
  it->second = file_id;
}

void CacheRules::ForgetPinnedLocked(const Hash128& file_id) {
  auto it = pinned_files_.find(file_id);
  if (it == pinned_files_.end()) return;
  if (auto p = pinned_by_path_.find(it->second); p != pinned_by_path_.end() && p->second == file_id) {
    pinned_by_path_.erase(p);
  }
  pinned_files_.erase(it);
}

bool CacheRules::NoteStoredLocked(const std::string& path, const Hash128& file_id,
                                  const TtlRule* ttl) {
  const bool pinned = PinnedLocked(path);
  if (pinned) RememberPinnedLocked(file_id, path);
  if (ttl != nullptr && !expiries_.count(file_id)) {
    expiries_[file_id] = Expiry{path, clock_->Now() + ttl->ttl};
  }
  return pinned;
}

pagestore::PutOptions CacheRules::OnStore(const ufs::Resolved& where, const Hash128& file_id) {
  pagestore::PutOptions o;
  o.group = GroupOf(where.mount);
  const std::string path = PathOf(where);
  const TtlRule* ttl = TtlFor(path);
  std::lock_guard lock(mu_);
  o.pinned = NoteStoredLocked(path, file_id, ttl);
  return o;
}

void CacheRules::AfterStore(const ufs::Resolved& where, const Hash128& file_id,
                            const pagestore::PutOptions& used) {
  const std::string path = PathOf(where);
  const TtlRule* ttl = TtlFor(path);
  bool pinned_now = false;
  std::vector<Hash128> superseded;
  {
    std::lock_guard lock(mu_);
    pinned_now = NoteStoredLocked(path, file_id, ttl);
    if (!pinned_now && used.pinned) ForgetPinnedLocked(file_id);
    superseded.swap(superseded_);
  }
  for (const Hash128& old : superseded) pages_->SetPinned(old, false);
  if (pinned_now == used.pinned) return;
  pages_->SetPinned(file_id, pinned_now);
  if (!pinned_now) return;
  // An unpin that ran whole between the decision and the SetPinned released the file
  // already: undo, or nothing would ever unpin these pages.
  bool still;
  {
    std::lock_guard lock(mu_);
    still = PinnedLocked(path);
    if (!still) ForgetPinnedLocked(file_id);
  }
  if (!still) pages_->SetPinned(file_id, false);
}

Result<uint64_t> CacheRules::Pin(const std::string& raw) {
  const std::string path = Trimmed(raw);
  SLUICE_ASSIGN_OR_RETURN(ufs::Resolved r, mounts_->Resolve(path));
  if (!r.store) return Status::InvalidArgument(fmt::format("'{}' is not in a mount", raw));
  {
    // The list changes once saved (a pin that would not survive a restart is not made);
    // saving (an fsync) holds save_mu_, not mu_, which every cold read takes.
    std::lock_guard save(save_mu_);
    std::vector<std::string> next = Pins();
    if (std::find(next.begin(), next.end(), path) == next.end()) {
      next.push_back(path);
      if (Status s = SavePins(next); !s.ok()) return s.WithContext(fmt::format("pin {}", path));
      std::lock_guard lock(mu_);
      pins_ = std::move(next);
    }
  }
  return Mark(path, true);
}

Result<uint64_t> CacheRules::Unpin(const std::string& raw) {
  const std::string path = Trimmed(raw);
  SLUICE_ASSIGN_OR_RETURN(ufs::Resolved r, mounts_->Resolve(path));
  if (!r.store) return Status::InvalidArgument(fmt::format("'{}' is not in a mount", raw));
  {
    std::lock_guard save(save_mu_);  // as in Pin
    std::vector<std::string> next = Pins();
    auto it = std::find(next.begin(), next.end(), path);
    if (it == next.end()) return Status::NotFound(fmt::format("{} is not pinned", path));
    next.erase(it);
    if (Status s = SavePins(next); !s.ok()) return s.WithContext(fmt::format("unpin {}", path));
    std::lock_guard lock(mu_);
    pins_ = std::move(next);
  }
  // The store's listing may fail (or the worker stop): the pages this worker knows it
  // pinned are released below all the same, and the error reported after.
  Result<uint64_t> listed = Mark(path, false);
  uint64_t marked = listed.ok() ? *listed : 0;
  // Versions the listing no longer names (replaced or deleted objects) were pinned too.
  std::vector<Hash128> release;
  {
    std::lock_guard lock(mu_);
    for (auto it = pinned_files_.begin(); it != pinned_files_.end();) {
      if (PathCovers(path, it->second) && !PinnedLocked(it->second)) {  // no other pin
        release.push_back(it->first);
        if (auto p = pinned_by_path_.find(it->second);
            p != pinned_by_path_.end() && p->second == it->first) {
          pinned_by_path_.erase(p);
        }
        it = pinned_files_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const Hash128& id : release) marked += pages_->SetPinned(id, false);
  if (!listed.ok()) return listed.status();
  return marked;
}

void CacheRules::ReapplyPins() {
  for (const auto& p : Pins()) {
    auto marked = Mark(p, true);
    if (!marked.ok()) SLUICE_LOG_WARN("pin {}: {}", p, marked.status().ToString());
  }
  ReapplyTtls();
}

std::vector<std::string> CacheRules::Pins() const {
  std::lock_guard lock(mu_);
  return pins_;
}

bool CacheRules::Pinned(const std::string& path) const {
  std::lock_guard lock(mu_);
  return PinnedLocked(path);
}

Status CacheRules::ForEachObject(
    const std::string& path,
    const std::function<void(const std::string& path, const Hash128& file_id)>& fn) {
  SLUICE_ASSIGN_OR_RETURN(ufs::Resolved r, mounts_->Resolve(path));
  auto visit = [&](const ufs::ObjectInfo& info) {
    ufs::Resolved obj = r;
    obj.key = info.key;
    fn("/" + r.mount + "/" + info.key,
       pagestore::MakeFileId(obj.ObjectUri(), info.Version(), config_.page_size));
  };
  if (!r.key.empty()) {
    auto st = r.store->Stat(r.key);
    if (st.ok() && !st->is_dir) {
      visit(*st);
      return Status::OK();
    }
  }
  ufs::ListOptions o;
  o.prefix = ufs::DirPrefix(r.key);
  for (;;) {
    if (cancelled_) return Status::Unavailable("the worker is stopping");
    SLUICE_ASSIGN_OR_RETURN(auto page, r.store->List(o));
    for (const auto& info : page.objects) visit(info);
    if (!page.truncated) break;
    o.continuation_token = page.next_token;
  }
  return Status::OK();
}

Result<uint64_t> CacheRules::Mark(const std::string& path, bool pinned) {
  uint64_t marked = 0;
  SLUICE_RETURN_IF_ERROR(ForEachObject(path, [&](const std::string& p, const Hash128& id) {
    if (!pinned && Pinned(p)) return;  // still pinned by another rule
    const size_t changed = pages_->SetPinned(id, pinned);
    marked += changed;
    if (pinned && changed > 0) {
      std::lock_guard lock(mu_);
      RememberPinnedLocked(id, p);
    }
  }));
  return marked;
}

void CacheRules::ReapplyTtls() {
  if (config_.ttl_rules.empty()) return;
  std::set<Hash128> cached;  // the files the store holds pages of
  pages_->ForEachKey([&](const pagestore::PageKey& k) { cached.insert(k.file_id); });
  if (cached.empty()) return;
  for (const TtlRule& rule : config_.ttl_rules) {
    Status s = ForEachObject(rule.path, [&](const std::string& p, const Hash128& id) {
      if (!cached.contains(id)) return;
      const TtlRule* ttl = TtlFor(p);  // the longest rule, maybe not this one
      if (ttl == nullptr) return;
      std::lock_guard lock(mu_);
      expiries_.try_emplace(id, Expiry{p, clock_->Now() + ttl->ttl});
    });
    if (!s.ok()) SLUICE_LOG_WARN("ttl rule {}: {}", rule.path, s.ToString());
  }
}

Status CacheRules::SavePins(const std::vector<std::string>& pins) const {
  if (state_dir_.empty()) return Status::OK();
  std::error_code ec;
  fs::create_directories(state_dir_, ec);
  const auto path = fs::path(state_dir_) / "pins.json";
  return pagestore::ReplaceFileDurably(path.string(), json(pins).dump());
}

uint64_t CacheRules::Sweep() {
  std::vector<Hash128> due;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_->Now();
    for (auto it = expiries_.begin(); it != expiries_.end();) {
      if (it->second.at <= now) {
        due.push_back(it->first);
        it = expiries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  uint64_t dropped = 0;
  for (const auto& id : due) {
    pages_->SetPinned(id, false);  // a TTL wins over a pin: it is what the rule asks for
    dropped += pages_->RemoveFile(id);
  }
  expired_ += due.size();
  expired_pages_ += dropped;
  return dropped;
}

CacheRulesStats CacheRules::GetStats() const {
  std::lock_guard lock(mu_);
  return {pins_.size(), expiries_.size(), expired_.load(), expired_pages_.load()};
}

json CacheRules::Json() const {
  json ttl = json::array(), quotas = json::array();
  for (const auto& r : config_.ttl_rules) {
    ttl.push_back(json{{"path", r.path},
                       {"ttl_ms", std::chrono::duration_cast<std::chrono::milliseconds>(r.ttl).count()}});
  }
  for (const auto& [mount, bytes] : config_.mount_quotas) {
    quotas.push_back(json{{"mount", mount},
                          {"quota_bytes", bytes},
                          {"used_bytes", pages_->GroupBytes(GroupOf(mount))}});
  }
  auto s = GetStats();
  return json{{"pins", Pins()},
              {"ttl_rules", ttl},
              {"quotas", quotas},
              {"ttl_tracked", s.ttl_tracked},
              {"ttl_expired", s.ttl_expired},
              {"ttl_expired_pages", s.ttl_expired_pages}};
}

}  // namespace sluice::worker
