#include "client/transport.h"

#include <algorithm>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "placement/ring_json.h"

namespace sluice::client {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Sent with every request: served where it lands (the client already chose the owner).
constexpr const char* kHop = "X-Sluice-Hop: 1";

StatusCode CodeFromName(std::string_view name) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kInternal); ++c) {  // every code
    if (StatusCodeName(static_cast<StatusCode>(c)) == name) return static_cast<StatusCode>(c);
  }
  return StatusCode::kInternal;
}

bool ShouldFailOver(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
}

}  // namespace

Status ErrorOf(const ufs::HttpResponse& r, std::string_view context) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    std::string code = j["error"].value("code", "");
    std::string message = j["error"].value("message", "");
    if (code == "RingMismatch") {
      return Status::FailedPrecondition(fmt::format("{}: {}", context, message));
    }
    return Status(CodeFromName(code), fmt::format("{}: {}", context, message));
  }
  return ufs::HttpError(r.status, context, r.body.substr(0, 200));
}

namespace {

// Requests to workers: no retries (failover is the transport's), `request_timeout` each.
ufs::CurlClientOptions WorkerRequests(const ClientOptions& options, Duration request_timeout) {
  ufs::CurlClientOptions o;
  o.max_retries = 0;
  o.connect_timeout = options.connect_timeout;
  o.request_timeout = request_timeout;
  o.max_pooled_handles = 256;
  return o;
}

}  // namespace

Transport::Transport(const ClientOptions& options)
    : options_(options),
      http_(WorkerRequests(options, options.request_timeout)),
      view_http_(WorkerRequests(
          options, std::min<Duration>(options.request_timeout, std::chrono::seconds(3)))) {}

Transport::~Transport() {
  if (etcd_) etcd_->Stop();
}

Result<std::unique_ptr<Transport>> Transport::Create(const ClientOptions& options) {
  if (options.cluster.empty() && options.etcd.empty()) {
    return Status::InvalidArgument(
        "no cluster given: pass --cluster HOST:PORT[,HOST:PORT...], set SLUICE_CLUSTER, or "
        "name one in the config file");
  }
  std::unique_ptr<Transport> t(new Transport(options));
  if (!options.cluster.empty()) {
    auto seeds = placement::ParsePeers(options.cluster);
    if (!seeds.ok()) return seeds.status().WithContext("cluster address");
    t->seeds_ = std::move(seeds).value();
  }
  if (!options.etcd.empty()) {
    placement::EtcdOptions eo;
    eo.url = options.etcd;
    eo.cluster = options.etcd_cluster;
    t->etcd_ = std::make_unique<placement::EtcdMembership>(std::move(eo));
    SLUICE_RETURN_IF_ERROR(t->etcd_->Start());
  }
  SLUICE_RETURN_IF_ERROR(t->Refresh());
  return t;
}

std::vector<std::string> Transport::Headers() const {
  std::vector<std::string> h{kHop};
  if (!options_.token.empty()) h.push_back("Authorization: Bearer " + options_.token);
  return h;
}

Result<std::shared_ptr<View>> Transport::FetchView(const std::string& endpoint) {
  ufs::HttpRequest r;
  r.url = endpoint + "/v1/cluster";
  r.headers = Headers();
  SLUICE_ASSIGN_OR_RETURN(auto resp, view_http_.Perform(r));
  if (resp.status != 200) return ErrorOf(resp, endpoint);
  auto j = json::parse(resp.body, nullptr, false);
  if (!j.is_object() || !j.contains("ring") || !j.contains("members")) {
    return Status::Unavailable(fmt::format("{} did not answer like a Sluice worker", endpoint));
  }
  auto ring = placement::RingFromJson(j["ring"]);
  if (!ring.ok()) return Status::Unavailable(fmt::format("{}: {}", endpoint, ring.status().message()));
  std::vector<placement::Member> members;
  if (etcd_ != nullptr) {
    // Only the members with this ring's settings: a worker registered with others (a
    // misconfigured one, a rolling change) is left out, as the workers leave it out.
    members = etcd_->MembersWith(ring->Fingerprint());
  } else {
    for (const auto& m : j["members"]) {
      members.push_back({m.value("id", ""), m.value("endpoint", "")});
    }
  }
  if (members.empty()) {
    return Status::Unavailable(fmt::format("{}: the cluster has no members", endpoint));
  }
  auto view = std::make_shared<View>();
  std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  {
    // Building a ring costs milliseconds (maglev's table): keep the one we have when
    // neither the members nor the settings changed.
    std::lock_guard lock(mu_);
    if (view_ != nullptr && view_->placement->members() == members &&
        view_->placement->fingerprint() == ring->Fingerprint()) {
      view->placement = view_->placement;
    }
  }
  if (view->placement == nullptr) {
    SLUICE_ASSIGN_OR_RETURN(view->placement, placement::Placement::Create(*ring, std::move(members)));
  }
  view->metadata_ttl = std::chrono::milliseconds(j.value("metadata_ttl_ms", int64_t{30000}));
  for (const auto& m : j.value("mounts", json::array())) {
    view->mounts.push_back({m.value("name", ""), m.value("uri", "")});
  }
  return view;
}

Status Transport::Refresh() {
  std::vector<std::string> candidates;
  {
    std::lock_guard lock(mu_);
    if (view_ != nullptr) {
      for (const auto& m : view_->placement->members()) {
        if (down_.count(m.endpoint) == 0) candidates.push_back(m.endpoint);
      }
    }
  }
  if (etcd_ != nullptr) {
    // The cluster's view is asked of a member with the settings most members have first:
    // one with other settings would hand us its ring.
    const std::string common = etcd_->CommonFingerprint();
    for (const auto& m : etcd_->MembersWith(common)) candidates.push_back(m.endpoint);
    for (const auto& m : etcd_->Members()) candidates.push_back(m.endpoint);
  }
  for (const auto& s : seeds_) candidates.push_back(s.endpoint);
  {
    std::lock_guard lock(mu_);
    const auto recent = Clock::now() - options_.down_time;
    std::stable_partition(candidates.begin(), candidates.end(), [&](const std::string& ep) {
      auto it = view_failed_.find(ep);
      return it == view_failed_.end() || it->second < recent;
    });
  }
  std::string tried;
  Status last = Status::Unavailable("no workers known");
  for (const auto& ep : candidates) {
    if (tried.find(ep + ",") != std::string::npos) continue;
    tried += ep + ",";
    auto v = FetchView(ep);
    if (v.ok()) {
      std::lock_guard lock(mu_);
      view_ = std::move(v).value();
      refreshed_ = Clock::now();
      view_failed_.erase(ep);
      return Status::OK();
    }
    last = v.status();
    if (last.code() == StatusCode::kPermissionDenied) return last;
    std::lock_guard lock(mu_);
    view_failed_[ep] = Clock::now();  // asked last for down_time
  }
  if (!tried.empty()) tried.pop_back();
  return Status::Unavailable(
      fmt::format("no Sluice worker answers (tried {}): {}", tried, last.message()));
}

std::shared_ptr<const View> Transport::CurrentView() {
  bool stale;
  {
    std::lock_guard lock(mu_);
    stale = Clock::now() - refreshed_ > options_.refresh_interval;
    if (!stale) return view_;
  }
  // One caller refreshes; the others go on with the view they have.
  if (std::unique_lock r(refresh_mu_, std::try_to_lock); r.owns_lock()) {
    if (Status s = Refresh(); !s.ok()) {
      SLUICE_LOG_DEBUG("cluster view not refreshed: {}", s.ToString());
      std::lock_guard lock(mu_);
      refreshed_ = Clock::now();  // try again after another interval
    }
  }
  std::lock_guard lock(mu_);
  return view_;
}

bool Transport::IsDown(const std::string& endpoint) {
  std::lock_guard lock(mu_);
  auto it = down_.find(endpoint);
  if (it == down_.end()) return false;
  if (Clock::now() < it->second) return true;
  down_.erase(it);
  return false;
}

void Transport::MarkDown(const std::string& endpoint) {
  std::lock_guard lock(mu_);
  down_[endpoint] = Clock::now() + options_.down_time;
}

std::string Transport::Url(const std::string& endpoint, const V1Request& req) const {
  return fmt::format("{}/v1/{}?path={}{}", endpoint, req.op, ufs::UriEncode(req.path, true),
                     req.query);
}

Result<ufs::HttpResponse> Transport::CallOne(const std::string& endpoint, const V1Request& req,
                                             const std::string& ring) {
  ufs::HttpRequest r;
  r.method = req.method;
  r.url = Url(endpoint, req);
  r.headers = Headers();
  if (!ring.empty()) r.headers.push_back("X-Sluice-Ring: " + ring);
  r.body = req.body;
  r.expected_body_size = req.expected_body_size;
  r.sink = req.sink;
  requests++;
  return http_.Perform(r);
}

Result<ufs::HttpResponse> Transport::Call(const V1Request& req) {
  auto resp = CallWith(*CurrentView(), req);
  // Our ring settings are not the cluster's any more (it was reconfigured): take the
  // cluster's view again and retry once.
  if (resp.ok() && resp->status == 409 && resp->body.find("RingMismatch") != std::string::npos) {
    bool refreshed;
    {
      // Not held across the retried call: the other callers that met the mismatch wait
      // for this refresh only, and skip their own when it happened while they waited.
      const auto asked = Clock::now();
      std::lock_guard r(refresh_mu_);
      {
        std::lock_guard lock(mu_);
        refreshed = refreshed_ >= asked;
      }
      if (!refreshed) refreshed = Refresh().ok();
    }
    if (refreshed) resp = CallWith(*CurrentView(), req);
  }
  return resp;
}

Result<ufs::HttpResponse> Transport::CallWith(const View& view, const V1Request& req) {
  auto owners = view.placement->Owners(req.path, req.block, options_.max_attempts);
  // Workers marked down go last: tried only when nobody else answers.
  std::stable_partition(owners.begin(), owners.end(),
                        [&](const placement::Member* m) { return !IsDown(m->endpoint); });
  const auto deadline = Clock::now() + options_.deadline;
  std::string tried;
  Status last = Status::Unavailable("no workers");
  int attempts = 0;
  bool out_of_time = false;
  for (const auto* m : owners) {
    if (attempts >= options_.max_attempts) break;
    if (Clock::now() >= deadline) {
      out_of_time = true;
      break;
    }
    attempts++;
    if (attempts > 1) failovers++;
    auto resp = CallOne(m->endpoint, req, view.placement->fingerprint());
    // A busy worker: the next owner may serve it (or the under store directly).
    if (resp.ok() && !WorkerBusy(resp->status)) return resp;
    last = resp.ok() ? ErrorOf(*resp, m->endpoint) : resp.status();
    if (!ShouldFailOver(last)) return last;
    // A worker that answered 5xx is up (its under store may be throttling or away): the
    // request tries the next owner, but the worker is not marked down, which would send
    // all its keys, cached ones included, elsewhere for a while.
    if (!resp.ok()) MarkDown(m->endpoint);
    tried += (tried.empty() ? "" : ", ") + m->id;
    SLUICE_LOG_DEBUG("worker {} failed ({}); trying the next", m->id, last.ToString());
  }
  // The call's deadline passed before every owner was tried: the caller's limit, not the
  // cluster's state (no under-store fallback follows).
  if (out_of_time) {
    return Status::DeadlineExceeded(fmt::format("{}: deadline of {} ms passed (tried {}): {}",
                                                req.path, options_.deadline.count(), tried,
                                                last.message()));
  }
  return Status::Unavailable(
      fmt::format("no worker could serve {} (tried {}): {}", req.path, tried, last.message()));
}

Result<ufs::Resolved> Transport::Direct(const std::string& path) {
  std::shared_ptr<ufs::MountTable> table;
  {
    std::lock_guard lock(mu_);
    if (direct_ == nullptr) {
      auto t = std::make_shared<ufs::MountTable>();
      for (const auto& m : view_->mounts) {
        if (Status s = t->AddUri(m.name, m.uri, {}); !s.ok()) {
          SLUICE_LOG_WARN("direct access to mount {} unavailable: {}", m.name, s.ToString());
        }
      }
      direct_ = t;
    }
    table = direct_;
  }
  return table->Resolve(path);
}

}  // namespace sluice::client
