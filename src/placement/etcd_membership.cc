// EtcdMembership (see membership.h). After Start, one background thread (the loop) owns
// the lease and makes every request; readers take snapshots under `mu`.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "common/logging.h"
#include "placement/etcd_client.h"
#include "placement/membership.h"

namespace sluice::placement {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// A member as stored in etcd, with the fingerprint of its ring settings.
struct Registration {
  Member member;
  std::string fingerprint;
};

std::string EncodeRegistration(const Member& m, const std::string& fingerprint) {
  return json{{"id", m.id}, {"endpoint", m.endpoint}, {"fingerprint", fingerprint}}.dump();
}

std::string StringField(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The value stored under /sluice/<cluster>/workers/<key_id>; nullopt if malformed (not
// a JSON object, no endpoint, an empty key id, or an id other than the key's).
std::optional<Registration> DecodeRegistration(std::string_view key_id, std::string_view value) {
  json j = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  Registration r;
  r.member.id = StringField(j, "id");
  if (r.member.id.empty()) r.member.id = key_id;
  r.member.endpoint = StringField(j, "endpoint");
  r.fingerprint = StringField(j, "fingerprint");
  if (key_id.empty() || r.member.id != key_id || r.member.endpoint.empty()) return std::nullopt;
  return r;
}

Status ValidateOptions(const EtcdOptions& o) {
  auto bad = [](std::string_view why) {
    return Status::InvalidArgument(fmt::format("etcd membership: {}", why));
  };
  if (o.cluster.empty() || o.cluster.find('/') != std::string::npos) {
    return bad("the cluster name must be non-empty and contain no '/'");
  }
  if (o.lease_ttl < std::chrono::seconds(1)) return bad("lease_ttl must be at least 1s");
  if (o.refresh_interval <= Duration::zero()) return bad("refresh_interval must be positive");
  if (o.request_timeout <= Duration::zero()) return bad("request_timeout must be positive");
  if (o.self && (o.self->id.empty() || o.self->id.find('/') != std::string::npos)) {
    return bad("the member id must be non-empty and contain no '/'");
  }
  if (o.self && o.self->endpoint.empty()) return bad("the member endpoint is empty");
  return Status::OK();
}

}  // namespace

struct EtcdMembership::Impl {
  explicit Impl(EtcdOptions o)
      : options(std::move(o)), prefix(fmt::format("/sluice/{}/workers/", options.cluster)) {}

  std::string SelfKey() const { return prefix + options.self->id; }
  std::string Who() const { return options.self ? options.self->id : "client"; }

  // Requests: Start, then the loop thread only.
  Status Register();
  Status EnsureRegistered();
  Status Heartbeat();
  Status Refresh();
  void Apply(const std::vector<EtcdClient::KeyValue>& kvs);
  void ReportProblems(const std::map<std::string, std::string>& mismatched,
                      const std::set<std::string>& malformed);
  void Note(const Status& s);
  void Run();

  const EtcdOptions options;
  const std::string prefix;  // /sluice/<cluster>/workers/
  std::unique_ptr<EtcdClient> etcd;

  // Owned by Start, then by the loop, then by Stop (after the join).
  int64_t lease = 0;                                     // 0: not registered
  bool down = false;                                     // reported unreachable, not yet back
  std::string last_error;                                // the last error answer logged
  std::map<std::string, std::string> mismatch_reported;  // id -> its fingerprint
  std::set<std::string> malformed_reported;              // keys
  std::atomic<bool> connected{false};

  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<Member> members;          // GUARDED_BY(mu)
  std::vector<std::string> mismatched;  // GUARDED_BY(mu)
  // Every well-formed registration, with its fingerprint, sorted by id. GUARDED_BY(mu)
  std::vector<std::pair<Member, std::string>> registered;
  uint64_t generation = 0;              // GUARDED_BY(mu)
  bool started = false;                 // GUARDED_BY(mu)
  bool stopping = false;                // GUARDED_BY(mu)
  std::thread thread;
};

// Grants a fresh lease and puts our key under it.
Status EtcdMembership::Impl::Register() {
  SLUICE_ASSIGN_OR_RETURN(int64_t id, etcd->Grant(options.lease_ttl));
  Status st = etcd->Put(SelfKey(), EncodeRegistration(*options.self, options.fingerprint), id);
  if (!st.ok()) {
    (void)etcd->Revoke(id);  // best effort; otherwise it expires by itself
    return st;
  }
  lease = id;
  return Status::OK();
}

// Puts our key again under the current lease, or under a new one if that is gone.
Status EtcdMembership::Impl::EnsureRegistered() {
  if (lease != 0) {
    Status st = etcd->Put(SelfKey(), EncodeRegistration(*options.self, options.fingerprint), lease);
    if (!st.Is(StatusCode::kNotFound)) return st;
    lease = 0;
  }
  return Register();
}

Status EtcdMembership::Impl::Heartbeat() {
  if (lease != 0) {
    SLUICE_ASSIGN_OR_RETURN(bool alive, etcd->KeepAlive(lease));
    if (alive) return Status::OK();
    SLUICE_LOG_WARN("etcd membership: the lease of {} expired; registering again", Who());
    lease = 0;
  }
  return Register();
}

// Reads the member list; puts our key back if it vanished while we hold a lease.
Status EtcdMembership::Impl::Refresh() {
  SLUICE_ASSIGN_OR_RETURN(std::vector<EtcdClient::KeyValue> kvs, etcd->Range(prefix));
  Apply(kvs);
  if (!options.self || lease == 0) return Status::OK();  // Heartbeat registers
  const std::string key = SelfKey();
  if (std::any_of(kvs.begin(), kvs.end(), [&](const auto& kv) { return kv.key == key; })) {
    return Status::OK();
  }
  SLUICE_LOG_WARN("etcd membership: the key of {} vanished; registering again", Who());
  return EnsureRegistered();
}

void EtcdMembership::Impl::Apply(const std::vector<EtcdClient::KeyValue>& kvs) {
  std::vector<Member> live;
  std::map<std::string, std::string> mismatch_now;  // id -> fingerprint
  std::set<std::string> malformed_now;
  std::vector<std::pair<Member, std::string>> all;
  for (const EtcdClient::KeyValue& kv : kvs) {
    std::optional<Registration> r =
        DecodeRegistration(std::string_view(kv.key).substr(prefix.size()), kv.value);
    if (r) all.emplace_back(r->member, r->fingerprint);
    if (!r) {
      malformed_now.insert(kv.key);
    } else if (!options.fingerprint.empty() && !r->fingerprint.empty() &&
               r->fingerprint != options.fingerprint) {
      mismatch_now.emplace(r->member.id, r->fingerprint);
    } else {
      live.push_back(std::move(r->member));
    }
  }
  ReportProblems(mismatch_now, malformed_now);
  std::sort(live.begin(), live.end(), [](const Member& a, const Member& b) { return a.id < b.id; });
  std::vector<std::string> mismatched_ids;
  for (const auto& [id, fp] : mismatch_now) mismatched_ids.push_back(id);
  std::lock_guard lock(mu);
  if (generation == 0 || live != members) {
    members = std::move(live);
    ++generation;
  }
  mismatched = std::move(mismatched_ids);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first.id < b.first.id; });
  registered = std::move(all);
}

// Logs each mismatched or malformed registration once while it stays.
void EtcdMembership::Impl::ReportProblems(const std::map<std::string, std::string>& mismatch_now,
                                          const std::set<std::string>& malformed_now) {
  for (const auto& [id, fp] : mismatch_now) {
    auto it = mismatch_reported.find(id);
    if (it != mismatch_reported.end() && it->second == fp) continue;
    SLUICE_LOG_ERROR(
        "etcd membership: member {} has ring fingerprint {} but {} has {}; leaving it out "
        "(the ring settings differ)",
        id, fp, Who(), options.fingerprint);
  }
  for (const std::string& key : malformed_now) {
    if (malformed_reported.count(key) == 0) {
      SLUICE_LOG_WARN("etcd membership: ignoring malformed registration under {}", key);
    }
  }
  mismatch_reported = mismatch_now;
  malformed_reported = malformed_now;
}

// Tracks reachability and logs only its changes (and each new error answer once).
void EtcdMembership::Impl::Note(const Status& s) {
  if (s.IsRetryable()) {
    connected = false;
    if (!down) {
      std::lock_guard lock(mu);
      SLUICE_LOG_WARN(
          "etcd membership: etcd at {} is unreachable ({}); keeping the last {} members",
          etcd->urls(), s.message(), members.size());
    }
    down = true;
    return;
  }
  connected = true;
  if (down) SLUICE_LOG_INFO("etcd membership: etcd at {} is reachable again", etcd->urls());
  down = false;
  if (!s.ok() && s.message() != last_error) SLUICE_LOG_WARN("etcd membership: {}", s.ToString());
  last_error = s.message();
}

void EtcdMembership::Impl::Run() {
  const Duration keepalive_every = options.lease_ttl / 3;
  Clock::time_point next_keepalive = Clock::now() + keepalive_every;
  Clock::time_point next_refresh = Clock::now() + options.refresh_interval;
  std::unique_lock lock(mu);
  while (true) {
    Clock::time_point wake = options.self ? std::min(next_keepalive, next_refresh) : next_refresh;
    if (cv.wait_until(lock, wake, [this] { return stopping; })) return;
    lock.unlock();
    Clock::time_point now = Clock::now();
    if (options.self && now >= next_keepalive) {
      Note(Heartbeat());
      next_keepalive = now + keepalive_every;
    }
    if (now >= next_refresh) {
      const bool was_down = down;
      Note(Refresh());
      next_refresh = Clock::now() + options.refresh_interval;
      if (was_down && !down) next_keepalive = now;  // back: refresh the lease at once
    }
    lock.lock();
  }
}

EtcdMembership::EtcdMembership(EtcdOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

EtcdMembership::~EtcdMembership() { Stop(); }

Status EtcdMembership::Start() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    if (s.started) return Status::FailedPrecondition("etcd membership: Start called twice");
  }
  SLUICE_RETURN_IF_ERROR(ValidateOptions(s.options));
  SLUICE_ASSIGN_OR_RETURN(s.etcd, EtcdClient::Create(s.options.url, s.options.request_timeout));
  Status st = s.options.self ? s.Register() : Status::OK();
  if (st.ok()) st = s.Refresh();
  if (!st.ok()) {
    if (s.lease != 0) (void)s.etcd->Revoke(s.lease);
    s.lease = 0;
    if (st.IsRetryable()) {
      return Status::Unavailable(st.message());  // "etcd unreachable at <urls>: ..."
    }
    return st.WithContext(fmt::format("etcd at {}", s.etcd->urls()));
  }
  s.connected = true;
  {
    std::lock_guard lock(s.mu);
    s.started = true;
    SLUICE_LOG_INFO("etcd membership: {} joined cluster {} via {} ({} members)", s.Who(),
                    s.options.cluster, s.etcd->urls(), s.members.size());
  }
  s.thread = std::thread([&s] { s.Run(); });
  return Status::OK();
}

void EtcdMembership::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    if (!s.started || s.stopping) return;
    s.stopping = true;
  }
  s.cv.notify_all();
  if (s.thread.joinable()) s.thread.join();
  if (s.lease != 0) {
    Status st = s.etcd->Revoke(s.lease);
    if (!st.ok()) SLUICE_LOG_DEBUG("etcd membership: revoke failed: {}", st.ToString());
    s.lease = 0;
  }
}

std::vector<Member> EtcdMembership::Members() const {
  std::lock_guard lock(impl_->mu);
  return impl_->members;
}

uint64_t EtcdMembership::Generation() const {
  std::lock_guard lock(impl_->mu);
  return impl_->generation;
}

std::vector<std::string> EtcdMembership::Mismatched() const {
  std::lock_guard lock(impl_->mu);
  return impl_->mismatched;
}

std::vector<Member> EtcdMembership::MembersWith(const std::string& fingerprint) const {
  std::lock_guard lock(impl_->mu);
  std::vector<Member> out;
  for (const auto& [m, fp] : impl_->registered) {
    if (fp.empty() || fp == fingerprint) out.push_back(m);
  }
  return out;
}

std::string EtcdMembership::CommonFingerprint() const {
  std::lock_guard lock(impl_->mu);
  std::map<std::string, size_t> count;
  for (const auto& [m, fp] : impl_->registered) {
    if (!fp.empty()) count[fp]++;
  }
  std::string best;
  size_t most = 0;
  for (const auto& [fp, n] : count) {  // ties: the smallest fingerprint, the same everywhere
    if (n > most) best = fp, most = n;
  }
  return best;
}

bool EtcdMembership::Connected() const { return impl_->connected.load(); }

}  // namespace sluice::placement
