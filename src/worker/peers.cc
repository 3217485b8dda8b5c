#include "worker/peers.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "worker/forward.h"

namespace sluice::worker {

Peers::Peers(Cluster* cluster, std::string token)
    : cluster_(cluster), token_(std::move(token)), http_([] {
        ufs::CurlClientOptions o;
        o.max_retries = 0;
        o.connect_timeout = std::chrono::milliseconds(500);
        o.request_timeout = std::chrono::seconds(60);
        return o;
      }()),
      list_http_([] {
        ufs::CurlClientOptions o;
        o.max_retries = 0;
        o.connect_timeout = std::chrono::milliseconds(500);
        o.request_timeout = std::chrono::seconds(15);  // a page the lister must list first
        return o;
      }()),
      control_http_([] {
        ufs::CurlClientOptions o;
        o.max_retries = 1;
        o.connect_timeout = std::chrono::milliseconds(300);
        o.request_timeout = std::chrono::seconds(2);
        return o;
      }()) {}

std::vector<std::string> Peers::Headers() const {
  std::vector<std::string> h = {fmt::format("{}: 1", kHopHeader),
                                fmt::format("{}: {}", kRingHeader, cluster_->fingerprint())};
  if (!token_.empty()) h.push_back("Authorization: Bearer " + token_);
  return h;
}

bool Peers::IsDown(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = down_.find(id);
  return it != down_.end() && std::chrono::steady_clock::now() < it->second;
}

void Peers::MarkDown(const std::string& id, std::chrono::seconds how_long) {
  std::lock_guard lock(mu_);
  down_[id] = std::chrono::steady_clock::now() + how_long;
}

std::optional<Result<size_t>> Peers::ReadRemote(std::string_view path,
                                                     std::string_view version, uint64_t offset,
                                                     std::span<char> out) {
  auto p = cluster_->placement();
  if (p->members().size() < 2) return std::nullopt;
  auto owners = p->Owners(path, p->BlockOf(offset));
  for (const auto* o : owners) {
    if (cluster_->IsSelf(o)) return std::nullopt;  // ours (or a replica of ours)
  }
  const placement::Member* owner = owners.front();
  if (IsDown(owner->id)) return std::nullopt;
  ufs::HttpRequest r;
  // With the version: an owner whose cached stat is older (the object was just written
  // through us) stats it anew instead of serving the old one.
  r.url =
      fmt::format("{}/v1/read?path={}&offset={}&length={}&version={}", owner->endpoint,
                  ufs::UriEncode(path, true), offset, out.size(), ufs::UriEncode(version, false));
  r.headers = Headers();
  r.sink = out;
  auto resp = http_.Perform(r);
  if (!resp.ok() || resp->status == 503) {
    SLUICE_LOG_DEBUG("block owner {} unreachable ({}): reading {} here", owner->id,
                     resp.ok() ? "503" : resp.status().ToString(), path);
    MarkDown(owner->id, std::chrono::seconds(3));
    return std::nullopt;
  }
  if (resp->status != 200) {
    return Result<size_t>(ufs::HttpError(resp->status, fmt::format("block of {} from {}", path,
                                                                    owner->id), resp->body));
  }
  if (std::string v = resp->Header("x-sluice-version"); v != version) {
    return Result<size_t>(Status::FailedPrecondition(
        fmt::format("{}: owner {} serves version {}, not {}", path, owner->id, v, version)));
  }
  remote_reads_++;
  return Result<size_t>(resp->sink_bytes);
}



void Peers::BroadcastChange(const std::string& path) {
  if (broadcaster_.Pending() > 100000) return;  // hopelessly behind: the TTL still bounds it
  broadcaster_.Submit([this, path] {
    auto p = cluster_->placement();
    for (const auto& m : p->members()) {
      if (cluster_->IsSelf(&m)) continue;
      ufs::HttpRequest r;
      r.method = "POST";
      r.url = fmt::format("{}/v1/invalidate?path={}", m.endpoint, ufs::UriEncode(path, true));
      r.headers = Headers();
      auto resp = control_http_.Perform(r);
      if (!resp.ok() || resp->status != 200) {
        SLUICE_LOG_DEBUG("invalidate {} on {}: {}", path, m.id,
                         resp.ok() ? std::to_string(resp->status) : resp.status().ToString());
      }
    }
  });
}



Result<ufs::ListPage> Peers::ListFrom(const placement::Member& member, const std::string& mount,
                                      const ufs::ListOptions& o, const std::string& job) {
  using nlohmann::json;
  std::string path = "/" + mount;
  if (!o.prefix.empty()) path += "/" + o.prefix.substr(0, o.prefix.size() - 1);
  ufs::HttpRequest r;
  r.url = fmt::format("{}/v1/list?path={}&delimiter={}&token={}&start_after={}&max={}&job={}",
                      member.endpoint, ufs::UriEncode(path, true),
                      ufs::UriEncode(o.delimiter, false), ufs::UriEncode(o.continuation_token, false),
                      ufs::UriEncode(o.start_after, false), o.max_keys, ufs::UriEncode(job, false));
  r.headers = Headers();
  if (IsDown(member.id)) {
    return Status::Unavailable(fmt::format("{} was unreachable a moment ago", member.id));
  }
  auto resp = list_http_.Perform(r);
  if (!resp.ok()) {  // dead or hung: its followers list the store themselves for a while
    MarkDown(member.id, std::chrono::seconds(10));
    return Status::Unavailable(resp.status().ToString());
  }
  if (resp->status != 200) {
    return ufs::HttpError(resp->status, fmt::format("listing {} on {}", path, member.id),
                          resp->body);
  }
  const std::string strip = "/" + mount + "/";
  auto rel = [&](const json& v) -> std::string {
    std::string p = v.get<std::string>();
    if (!p.starts_with(strip)) throw std::runtime_error("a path outside the mount: " + p);
    return p.substr(strip.size());
  };
  ufs::ListPage page;
  try {
    json j = json::parse(resp->body);
    for (const auto& e : j.at("objects")) {
      ufs::ObjectInfo info;
      info.key = rel(e.at("path"));
      info.size = e.at("size").get<uint64_t>();
      info.mtime_ns = e.at("mtime_ns").get<int64_t>();
      info.is_dir = e.value("is_dir", false);
      // The answer's etag is made up from the version when the store gave none.
      const std::string version = e.at("version").get<std::string>();
      if (e.at("etag").get<std::string>() == version) info.etag = version;
      if (info.Version() != version) throw std::runtime_error("version " + version + " unparsed");
      page.objects.push_back(std::move(info));
    }
    for (const auto& p : j.at("prefixes")) page.common_prefixes.push_back(rel(p));
    page.next_token = j.at("next_token").get<std::string>();
    // JSON carries UTF-8 only: a key that was not is replaced with U+FFFD on the way, and
    // would name another object. The caller lists the store itself instead.
    auto mangled = [](const std::string& k) { return k.find("\xEF\xBF\xBD") != std::string::npos; };
    if (mangled(page.next_token) ||
        std::any_of(page.objects.begin(), page.objects.end(),
                    [&](const ufs::ObjectInfo& o) { return mangled(o.key); }) ||
        std::any_of(page.common_prefixes.begin(), page.common_prefixes.end(), mangled)) {
      return Status::FailedPrecondition(
          fmt::format("listing {} on {}: a key is not UTF-8", path, member.id));
    }
  } catch (const std::exception& e) {
    return Status::Internal(fmt::format("listing {} on {}: bad answer: {}", path, member.id,
                                        e.what()));
  }
  page.truncated = !page.next_token.empty();
  return page;
}

}  // namespace sluice::worker
