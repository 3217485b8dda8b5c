#include "sluice/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "client/chunk_cache.h"
#include "client/reader.h"
#include "client/transport.h"
#include "common/logging.h"
#include "common/thread_pool.h"

namespace sluice {
namespace {

using client::Transport;
using client::V1Request;
using nlohmann::json;

ObjectStat StatFromJson(const json& j) {
  ObjectStat s;
  s.path = j.value("path", "");
  s.size = j.value("size", uint64_t{0});
  s.mtime_ns = j.value("mtime_ns", int64_t{0});
  s.etag = j.value("etag", "");
  s.version = j.value("version", "");
  s.is_dir = j.value("is_dir", false);
  return s;
}

Result<json> ParseJson(const ufs::HttpResponse& r, std::string_view context) {
  if (r.status < 200 || r.status >= 300) return client::ErrorOf(r, context);
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return Status::Internal(fmt::format("{}: the answer is not JSON", context));
  return j;
}

// One piece of a large read: [offset, offset + length) of the object into dst.
struct Piece {
  uint64_t offset;
  uint64_t length;
  char* dst;
  uint64_t block;
  Result<size_t> got = size_t{0};
  std::string version;
};

class ClientImpl final : public Client {
 public:
  ClientImpl(std::unique_ptr<Transport> t)
      : t_(std::move(t)), pool_(std::max(1, t_->options().parallelism - 1)) {
    if (t_->options().memory_cache > 0) {
      cache_ = std::make_unique<client::ChunkCache>(t_->options().memory_cache);
    }
  }

  Result<ObjectStat> Stat(const std::string& path) override {
    V1Request req{.op = "stat", .path = path};
    auto resp = t_->Call(req);
    if (!resp.ok()) {
      if (!t_->options().ufs_fallback || !FallBack(resp.status())) return resp.status();
      return DirectStat(path, resp.status());
    }
    SLUICE_ASSIGN_OR_RETURN(auto j, ParseJson(*resp, path));
    return StatFromJson(j);
  }

  Result<ListPage> List(const std::string& path, const std::string& delimiter,
                        const std::string& token, int max_keys) override {
    V1Request req{.op = "list",
                  .path = path,
                  .query = fmt::format("&delimiter={}&token={}&max={}",
                                       ufs::UriEncode(delimiter, false),
                                       ufs::UriEncode(token, false), max_keys)};
    SLUICE_ASSIGN_OR_RETURN(auto resp, t_->Call(req));
    SLUICE_ASSIGN_OR_RETURN(auto j, ParseJson(resp, path));
    ListPage page;
    for (const auto& o : j.value("objects", json::array())) page.objects.push_back(StatFromJson(o));
    for (const auto& p : j.value("prefixes", json::array())) page.prefixes.push_back(p.get<std::string>());
    page.next_token = j.value("next_token", "");
    return page;
  }

  Result<size_t> Read(const std::string& path, uint64_t offset, std::span<char> out) override {
    return ReadVersioned(path, offset, out, nullptr);
  }

  // Reads into `out`; sets *version to the version served (all pieces agree, else retried).
  // A non-empty *version on entry is the version wanted (a Reader's): it is sent with every
  // piece, so a worker whose cached stat names another version stats the object anew.
  // ReadRemote through the memory cache (ClientOptions::memory_cache) when the caller
  // names the version: whole 1 MiB chunks are fetched and kept, and served again from
  // memory while the version holds.
  Result<size_t> ReadVersioned(const std::string& path, uint64_t offset, std::span<char> out,
                               std::string* version) {
    if (cache_ == nullptr || version == nullptr || version->empty() || out.empty()) {
      return ReadRemote(path, offset, out, version);
    }
    constexpr uint64_t kC = client::ChunkCache::kChunk;
    const uint64_t first = offset / kC, last = (offset + out.size() - 1) / kC;
    std::vector<std::shared_ptr<const std::string>> chunks;
    for (uint64_t i = first; i <= last; ++i) {
      auto c = cache_->Get(path, *version, i);
      if (c == nullptr) break;
      chunks.push_back(std::move(c));
      if (chunks.back()->size() < kC) break;  // the object ends in this chunk
    }
    if (chunks.empty() || (chunks.back()->size() == kC && first + chunks.size() <= last)) {
      const uint64_t from = (first + chunks.size()) * kC;
      std::string buf((last + 1) * kC - from, '\0');
      std::string v = *version;
      SLUICE_ASSIGN_OR_RETURN(size_t n, ReadRemote(path, from, std::span<char>(buf), &v));
      if (v != *version) {
        // The object changed: these bytes are not of the version wanted (nor are they to
        // be kept under its name). Read the whole range anew, uncached, so the caller
        // gets one version and learns it from *version.
        return ReadRemote(path, offset, out, version);
      }
      for (uint64_t at = 0; at < n; at += kC) {
        auto c = std::make_shared<const std::string>(buf.substr(at, std::min<uint64_t>(kC, n - at)));
        cache_->Put(path, *version, from / kC + at / kC, c);
        chunks.push_back(std::move(c));
      }
    }
    size_t done = 0;
    for (size_t k = 0; k < chunks.size(); ++k) {
      const uint64_t start = (first + k) * kC, at = offset + done;
      if (at < start || at >= start + chunks[k]->size()) break;
      size_t n = std::min<size_t>(out.size() - done, start + chunks[k]->size() - at);
      std::memcpy(out.data() + done, chunks[k]->data() + (at - start), n);
      done += n;
      if (done == out.size()) break;
    }
    return done;
  }

  // Reads into `out` from the workers (or the under store).
  Result<size_t> ReadRemote(const std::string& path, uint64_t offset, std::span<char> out,
                            std::string* version) {
    if (out.empty()) return size_t{0};
    auto view = t_->CurrentView();
    const uint64_t block_size = view->placement->settings().block_size;
    const uint64_t chunk = std::max<uint64_t>(t_->options().chunk_size, 64 * 1024);
    // A range of several pieces asked without a version (a Reader knows its size) may
    // reach far past the object's end: a stat clamps it, so pieces past the end are not
    // requested (a 1 GiB read of a 1 KiB object made 128 requests).
    std::string clamped_by;  // the version the clamp's stat named: the read asks for it
    if (out.size() > chunk && (version == nullptr || version->empty())) {
      SLUICE_ASSIGN_OR_RETURN(ObjectStat st, Stat(path));
      if (st.is_dir) return Status::InvalidArgument(path + " is a directory");
      const uint64_t left = st.size > offset ? st.size - offset : 0;
      if (left == 0) return size_t{0};
      if (left < out.size()) out = out.first(static_cast<size_t>(left));
      clamped_by = st.version;
    }
    std::vector<Piece> pieces;
    for (uint64_t at = offset, end = offset + out.size(); at < end;) {
      uint64_t block = at / block_size;
      uint64_t stop = std::min({end, (block + 1) * block_size, at + chunk});
      pieces.push_back({at, stop - at, out.data() + (at - offset), block});
      at = stop;
    }
    std::string want = version != nullptr && !version->empty() ? *version : clamped_by;
    for (int attempt = 0;; ++attempt) {
      RunPieces(path, want, &pieces);
      size_t total = 0;
      bool versions_agree = true;
      Status failed;
      for (auto& p : pieces) {
        if (!p.got.ok()) {
          failed = p.got.status();
          break;
        }
        if (p.version != pieces.front().version) versions_agree = false;
        total += *p.got;
        if (*p.got < p.length) break;  // the end of the object
      }
      // A miss may be a member's cached "not found" from before the object was written
      // through another member: asked again below with the version its owner names.
      const bool maybe_stale_miss =
          failed.Is(StatusCode::kNotFound) && want.empty() && attempt == 0;
      if (!failed.ok() && !maybe_stale_miss) return failed;
      if (failed.ok() && (versions_agree || attempt == 2)) {
        if (version != nullptr) *version = pieces.front().version;
        if (!versions_agree) {
          return Status::FailedPrecondition(fmt::format("{} kept changing while read", path));
        }
        return total;
      }
      // The members disagree: one wrote a new version that the others' cached stats do not
      // know yet. Ask every piece for the version the path's owner names now.
      if (want.empty()) {
        auto st = Stat(path);
        if (st.ok()) want = st->version;
        if (maybe_stale_miss && !st.ok()) return failed;
      }
    }
  }

  Result<std::string> ReadAll(const std::string& path) override {
    // One version whole: when the object changed between the stat and the read (the read
    // names another version), its bytes were cut to the old size; stat and read again.
    for (int attempt = 0;; ++attempt) {
      SLUICE_ASSIGN_OR_RETURN(auto st, Stat(path));
      if (st.is_dir) return Status::InvalidArgument(path + " is a directory");
      std::string data(st.size, '\0');
      std::string version = st.version;  // members with an older cached stat refresh it
      SLUICE_ASSIGN_OR_RETURN(
          size_t n, ReadVersioned(path, 0, std::span<char>(data.data(), data.size()), &version));
      if (version == st.version) {
        data.resize(n);
        return data;
      }
      if (attempt == 2) {
        return Status::FailedPrecondition(fmt::format("{} kept changing while read", path));
      }
    }
  }

  Result<std::unique_ptr<Reader>> Open(const std::string& path) override {
    SLUICE_ASSIGN_OR_RETURN(auto st, Stat(path));
    if (st.is_dir) return Status::InvalidArgument(path + " is a directory");
    return Open(st);
  }

  std::unique_ptr<Reader> Open(const ObjectStat& st) override {
    return client::MakeReader(
        std::move(st), t_->options().readahead,
        [this](const std::string& p, uint64_t off, std::span<char> out, std::string* version) {
          return ReadVersioned(p, off, out, version);
        });
  }

  Result<ObjectStat> Write(const std::string& path, std::string_view data) override {
    // A body of 1 MiB or more is streamed, like a Source's: then request_timeout bounds a
    // stall, not the whole upload (a 2 GiB buffer over a 50 MB/s link takes 40 s); the
    // bytes can be sent again, so a stalled attempt still fails over. A smaller body goes
    // in one request on a pooled connection.
    if (data.size() >= (1 << 20)) {
      return Stream(path, data.size(), /*replayable=*/true, [data]() -> Source {
        return [data, at = size_t{0}](std::span<char> out) mutable -> Result<size_t> {
          const size_t n = std::min(out.size(), data.size() - at);
          std::memcpy(out.data(), data.data() + at, n);
          at += n;
          return n;
        };
      });
    }
    V1Request req{.method = "PUT", .op = "write", .path = path, .body = data};
    SLUICE_ASSIGN_OR_RETURN(auto resp, t_->Call(req));
    SLUICE_ASSIGN_OR_RETURN(auto j, ParseJson(resp, path));
    return StatFromJson(j);
  }

  Result<ObjectStat> Write(const std::string& path, uint64_t size, Source source) override {
    return Stream(path, size, /*replayable=*/false, [&]() -> Source {
      return [&source](std::span<char> out) { return source(out); };
    });
  }

  Result<ObjectStat> Write(const std::string& path, uint64_t size,
                           const std::function<Source()>& sources) override {
    return Stream(path, size, /*replayable=*/true, sources);
  }

  // Streams a body of `size` bytes from a Source that `attempt` gives for each attempt, to
  // the path's owners in turn. An attempt that fails before the body was read from moves
  // on to the next owner; one that failed later does too only when `replayable` (each
  // attempt's Source starts the body again).
  Result<ObjectStat> Stream(const std::string& path, uint64_t size, bool replayable,
                            const std::function<Source()>& attempt);

  Status Delete(const std::string& path) override {
    V1Request req{.method = "DELETE", .op = "object", .path = path};
    SLUICE_ASSIGN_OR_RETURN(auto resp, t_->Call(req));
    if (resp.status == 204 || resp.status == 200) return Status::OK();
    return client::ErrorOf(resp, path);
  }

  Result<uint64_t> Free(const std::string& path) override {
    uint64_t freed = 0;
    std::vector<std::string> missed;
    Status first;
    for (const auto& a : Broadcast("POST", "free", path, "", {})) {
      if (!a.status.ok()) {
        if (!IsTransport(a.status)) return a.status;  // the path itself is wrong
        missed.push_back(a.id);
        continue;
      }
      json j = json::parse(a.json, nullptr, /*allow_exceptions=*/false);
      if (j.is_object()) freed += j.value("freed_pages", uint64_t{0});
    }
    if (!missed.empty()) {
      return Status::Unavailable(fmt::format("freed {} pages, but could not reach {}", freed,
                                             fmt::join(missed, ", ")));
    }
    return freed;
  }

  Status Prefetch(const std::vector<std::string>& paths) override {
    auto view = t_->CurrentView();
    std::map<std::string, json> by_owner;  // endpoint -> paths, in order
    for (const auto& p : paths) {
      auto owners = view->placement->Owners(p, 0);
      for (const auto* o : owners) {
        if (t_->IsDown(o->endpoint)) continue;
        auto& list = by_owner[o->endpoint];
        if (list.is_null()) list = json::array();
        list.push_back(p);
        break;
      }
    }
    std::vector<std::future<Status>> futures;
    for (auto& [endpoint, list] : by_owner) {
      futures.push_back(std::async(std::launch::async, [this, endpoint, body = json{{"paths", list}}.dump()] {
        V1Request req{.method = "POST", .op = "prefetch", .path = "/", .body = body};
        auto resp = t_->CallOne(endpoint, req);
        if (!resp.ok()) {
          t_->MarkDown(endpoint);
          return resp.status();
        }
        return resp->status / 100 == 2 ? Status::OK() : client::ErrorOf(*resp, endpoint);
      }));
    }
    Status first;
    for (auto& f : futures) {
      Status s = f.get();
      if (!s.ok() && first.ok() && !IsTransport(s)) first = s;  // a dead owner is skipped
    }
    return first;
  }

  std::vector<WorkerAnswer> Broadcast(const std::string& method, const std::string& op,
                                      const std::string& path, const std::string& query,
                                      std::string_view body) override {
    auto view = t_->CurrentView();
    const auto& members = view->placement->members();
    std::vector<std::future<WorkerAnswer>> futures;
    for (const auto& m : members) {
      futures.push_back(std::async(std::launch::async, [&, m] {
        WorkerAnswer a{m.id, m.endpoint, Status::OK(), ""};
        V1Request req{.method = method, .op = op, .path = path, .query = query, .body = body};
        auto resp = t_->CallOne(m.endpoint, req);
        if (!resp.ok()) {
          a.status = resp.status().WithContext(m.id);
        } else if (resp->status / 100 != 2) {
          a.status = client::ErrorOf(*resp, m.id);
        } else {
          a.json = std::move(resp->body);
        }
        return a;
      }));
    }
    std::vector<WorkerAnswer> out;
    for (auto& f : futures) out.push_back(f.get());
    return out;
  }

  std::vector<WorkerReport> ClusterStatus() override {
    auto view = t_->CurrentView();
    const auto& members = view->placement->members();
    std::vector<std::future<WorkerReport>> futures;
    for (const auto& m : members) {
      futures.push_back(std::async(std::launch::async, [this, m] { return Report(m); }));
    }
    std::vector<WorkerReport> out;
    for (auto& f : futures) out.push_back(f.get());
    return out;
  }

  std::vector<std::string> Workers() override {
    std::vector<std::string> out;
    for (const auto& m : t_->CurrentView()->placement->members()) out.push_back(m.endpoint);
    return out;
  }

  std::chrono::milliseconds MetadataTtl() override { return t_->CurrentView()->metadata_ttl; }

  ClientStats Stats() const override {
    return {t_->requests.load(), t_->failovers.load(), t_->ufs_fallbacks.load(),
            cache_ ? cache_->hits() : 0, cache_ ? cache_->misses() : 0};
  }

 private:
  static bool IsTransport(const Status& s) {
    return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
  }
  // Whether a failed call goes to the under store directly: no worker could serve it
  // (kUnavailable). Not when the call's own deadline passed (kDeadlineExceeded).
  static bool FallBack(const Status& s) { return s.code() == StatusCode::kUnavailable; }

  WorkerReport Report(const placement::Member& m) {
    WorkerReport r;
    r.id = m.id;
    r.endpoint = m.endpoint;
    V1Request req{.op = "status", .path = "/"};
    auto resp = t_->CallOne(m.endpoint, req);
    if (!resp.ok()) {
      r.state = resp.status().message();
      return r;
    }
    auto j = ParseJson(*resp, m.id);
    if (!j.ok()) {
      r.state = j.status().message();
      return r;
    }
    r.reachable = true;
    r.state = j->value("state", "");
    r.capacity_bytes = j->value("capacity_bytes", uint64_t{0});
    r.used_bytes = j->value("used_bytes", uint64_t{0});
    r.pages = j->value("pages", uint64_t{0});
    r.hit_ratio = j->value("hit_ratio", 0.0);
    r.ufs_reads = j->value("ufs_reads", uint64_t{0});
    r.ufs_bytes = j->value("ufs_bytes", uint64_t{0});
    r.json = j->dump();
    return r;
  }

  void ReadPiece(const std::string& path, const std::string& want, Piece* p) {
    p->version.clear();  // not an earlier attempt's: bytes of unknown version agree with none
    V1Request req{
        .op = "read",
        .path = path,
        .block = p->block,
        .query = fmt::format("&offset={}&length={}{}", p->offset, p->length,
                             want.empty() ? "" : "&version=" + ufs::UriEncode(want, false)),
        .expected_body_size = p->length,
        .sink = std::span<char>(p->dst, p->length)};
    auto resp = t_->Call(req);
    if (!resp.ok()) {
      p->got = FallBack(resp.status()) && t_->options().ufs_fallback
                   ? DirectRead(path, p, resp.status())
                   : Result<size_t>(resp.status());
      return;
    }
    if (resp->status != 200 && resp->status != 206) {
      p->got = client::ErrorOf(*resp, path);
      return;
    }
    p->got = resp->sink_bytes;
    p->version = resp->Header("x-sluice-version");
  }

  void RunPieces(const std::string& path, const std::string& want, std::vector<Piece>* pieces) {
    if (pieces->size() == 1) return ReadPiece(path, want, &pieces->front());
    std::vector<std::promise<void>> done(pieces->size() - 1);
    for (size_t i = 1; i < pieces->size(); ++i) {
      pool_.Submit([this, &path, &want, p = &(*pieces)[i], d = &done[i - 1]] {
        ReadPiece(path, want, p);
        d->set_value();
      });
    }
    ReadPiece(path, want, &pieces->front());
    for (auto& d : done) d.get_future().wait();
  }

  Result<size_t> DirectRead(const std::string& path, Piece* p, const Status& why) {
    auto r = t_->Direct(path);
    if (!r.ok() || r->store == nullptr) return why;
    auto data = r->store->Read(r->key, p->offset, p->length);
    if (!data.ok()) return why.WithContext(data.status().message());
    t_->ufs_fallbacks++;
    std::memcpy(p->dst, data->data(), data->size());
    auto st = r->store->Stat(r->key);
    if (st.ok()) p->version = st->Version();
    return data->size();
  }

  Result<ObjectStat> DirectStat(const std::string& path, const Status& why) {
    auto r = t_->Direct(path);
    if (!r.ok() || r->store == nullptr) return why;
    auto st = r->store->Stat(r->key);
    if (!st.ok()) {
      if (st.status().code() == StatusCode::kNotFound) return st.status();
      return why;
    }
    t_->ufs_fallbacks++;
    ObjectStat s;
    s.path = path;
    s.size = st->size;
    s.mtime_ns = st->mtime_ns;
    s.etag = st->etag;
    s.version = st->Version();
    s.is_dir = st->is_dir;
    return s;
  }

  std::unique_ptr<Transport> t_;
  ThreadPool pool_;
  std::unique_ptr<client::ChunkCache> cache_;  // null unless memory_cache > 0
};

Result<ObjectStat> ClientImpl::Stream(const std::string& path, uint64_t size, bool replayable,
                                      const std::function<Source()>& attempt) {
  auto view = t_->CurrentView();
  auto owners = view->placement->Owners(path, 0, t_->options().max_attempts);
  // Workers marked down go last, as for every other request (Transport::CallWith).
  std::stable_partition(owners.begin(), owners.end(),
                        [&](const placement::Member* m) { return !t_->IsDown(m->endpoint); });
  // No X-Sluice-Ring header: a worker with other ring settings forwards the write to the
  // owner it knows, where a 409 would fail a body that cannot be sent again.
  // The call's deadline bounds the failover, counted from the last byte that moved: an
  // upload that streamed for an hour before its worker died still goes to the next owner,
  // one that made no progress for `deadline` does not (a stall ends an attempt anyway:
  // see the stall limit below).
  auto last_progress = std::chrono::steady_clock::now();
  Status last = Status::Unavailable("no workers");
  bool first = true;
  for (const auto* m : owners) {
    if (std::chrono::steady_clock::now() - last_progress >= t_->options().deadline) {
      last = Status::DeadlineExceeded(
          fmt::format("no progress for the deadline of {} ms ({})", t_->options().deadline.count(),
                      last.message()));
      break;
    }
    if (!std::exchange(first, false)) t_->failovers++;
    Source source = attempt();
    CURL* c = curl_easy_init();
    if (c == nullptr) return Status::Internal("curl_easy_init failed");
    V1Request req{.method = "PUT", .op = "write", .path = path};
    std::string url = t_->Url(m->endpoint, req);
    curl_slist* headers = nullptr;
    for (const auto& h : t_->Headers()) headers = curl_slist_append(headers, h.c_str());
    headers = curl_slist_append(headers, "Expect:");
    struct State {
      Source* source;
      std::chrono::milliseconds stall_limit;
      bool started = false;
      Status error;
      std::string body;
      curl_off_t moved = 0;  // bytes sent and received so far
      std::chrono::steady_clock::time_point last_move = std::chrono::steady_clock::now();
    } st{&source, t_->options().request_timeout};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(t_->options().connect_timeout.count()));  // NOLINT
    // The attempt ends when no byte moves for request_timeout (a limit on the whole
    // transfer would cut long uploads of large objects).
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(
        c, CURLOPT_XFERINFOFUNCTION,
        +[](void* arg, curl_off_t, curl_off_t down, curl_off_t, curl_off_t up) -> int {
          auto* s = static_cast<State*>(arg);
          auto now = std::chrono::steady_clock::now();
          if (down + up != s->moved) {
            s->moved = down + up;
            s->last_move = now;
          }
          return now - s->last_move > s->stall_limit ? 1 : 0;  // 1 aborts
        });
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &st);
    curl_easy_setopt(
        c, CURLOPT_READFUNCTION, +[](char* buf, size_t sz, size_t n, void* arg) -> size_t {
          auto* s = static_cast<State*>(arg);
          s->started = true;
          auto got = (*s->source)(std::span<char>(buf, sz * n));
          if (!got.ok()) {
            s->error = got.status();
            return CURL_READFUNC_ABORT;
          }
          return *got;
        });
    curl_easy_setopt(c, CURLOPT_READDATA, &st);
    curl_easy_setopt(
        c, CURLOPT_WRITEFUNCTION, +[](char* buf, size_t sz, size_t n, void* arg) -> size_t {
          static_cast<State*>(arg)->body.append(buf, sz * n);
          return sz * n;
        });
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;  // NOLINT(runtime/int)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    t_->requests++;
    last_progress = std::max(last_progress, st.last_move);
    if (!st.error.ok()) return st.error;
    if (rc == CURLE_OK) {
      ufs::HttpResponse r;
      r.status = status;
      r.body = std::move(st.body);
      // A busy worker: a body that can be sent again (or was not read from) goes to the
      // next owner, as other requests do.
      const bool retry_elsewhere = client::WorkerBusy(status) && (replayable || !st.started);
      if (!retry_elsewhere) {
        SLUICE_ASSIGN_OR_RETURN(auto j, ParseJson(r, path));
        return StatFromJson(j);
      }
      last = client::ErrorOf(r, m->id);
      continue;
    }
    last = rc == CURLE_ABORTED_BY_CALLBACK || rc == CURLE_OPERATION_TIMEDOUT
               ? Status::DeadlineExceeded(
                     fmt::format("{}: no progress for {} ms", m->id, st.stall_limit.count()))
               : Status::Unavailable(fmt::format("{}: {}", m->id, curl_easy_strerror(rc)));
    if (st.started && !replayable) return last.WithContext(fmt::format("writing {}", path));
    t_->MarkDown(m->endpoint);
  }
  return last.WithContext(fmt::format("no worker could write {}", path));
}

}  // namespace

Result<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  SLUICE_ASSIGN_OR_RETURN(auto t, client::Transport::Create(options));
  return std::unique_ptr<Client>(new ClientImpl(std::move(t)));
}

}  // namespace sluice
