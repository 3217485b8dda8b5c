#include "worker/read_through.h"

#include <utility>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "common/logging.h"

namespace sluice::worker {

using pagestore::PageKey;

struct ReadThroughCache::Target {
  ufs::Resolved where;
  std::string uri;  // object URI
  ufs::ObjectInfo info;
  std::string version;
  Hash128 file_id;

  // The object `where` names, at the version `info` describes.
  static Target Of(ufs::Resolved where, ufs::ObjectInfo info, uint64_t page_size) {
    Target t;
    t.uri = where.ObjectUri();
    t.where = std::move(where);
    t.version = info.Version();
    t.file_id = pagestore::MakeFileId(t.uri, t.version, page_size);
    t.info = std::move(info);
    return t;
  }
};

Status CacheOptions::Validate() const {
  if (page_size < 64 * kKiB || page_size > 16 * kMiB) {
    return Status::InvalidArgument("page_size must be between 64KiB and 16MiB");
  }
  if (metadata_ttl.count() < 0) return Status::InvalidArgument("metadata_ttl must be >= 0");
  if (max_fetch_pages == 0) return Status::InvalidArgument("max_fetch_pages must be >= 1");
  if (fetch_threads < 1 || fetch_threads > 256) {
    return Status::InvalidArgument("fetch_threads must be between 1 and 256");
  }
  if (fetch_attempts < 1) return Status::InvalidArgument("fetch_attempts must be >= 1");
  return Status::OK();
}

ReadThroughCache::ReadThroughCache(CacheOptions options, std::shared_ptr<ufs::MountTable> mounts,
                                   std::shared_ptr<pagestore::PageStore> pages, Clock* clock)
    : options_(std::move(options)),
      mounts_(std::move(mounts)),
      pages_(std::move(pages)),
      clock_(clock),
      metadata_(options_.metadata_ttl, options_.metadata_max_entries, clock),
      recovered_pages_(pages_->GetStats().pages > 0),
      fetchers_(std::make_unique<ThreadPool>(options_.fetch_threads)) {}

ReadThroughCache::~ReadThroughCache() { fetchers_.reset(); }

Result<ufs::ObjectInfo> ReadThroughCache::Stat(std::string_view path) {
  SLUICE_ASSIGN_OR_RETURN(ufs::Resolved r, mounts_->Resolve(path));
  if (!r.store || r.key.empty()) {
    ufs::ObjectInfo dir;
    dir.key = r.mount;
    dir.is_dir = true;
    return dir;
  }
  return StatResolved(r, /*bypass_cache=*/false);
}

std::optional<ReadThroughCache::CachedObject> ReadThroughCache::CachedStat(
    std::string_view path) {
  auto r = mounts_->ResolveCached(path);
  if (!r.ok() || !r->store || r->key.empty()) return std::nullopt;
  std::string uri = r->ObjectUri();
  auto cached = metadata_.Get(uri);
  if (!cached || !cached->ok() || (*cached)->is_dir) return std::nullopt;
  CachedObject object{std::move(*cached).value(), {}, std::move(*r), {}};
  object.file_id = FileId(uri, object.info.Version());
  object.uri = std::move(uri);
  return object;
}

std::optional<std::vector<ReadThroughCache::SharedSlice>> ReadThroughCache::ShareIfInMemory(
    const CachedObject& object, uint64_t offset, uint64_t length) {
  const ufs::ObjectInfo& info = object.info;
  std::vector<SharedSlice> out;
  if (offset >= info.size || length == 0) return out;
  const uint64_t end = offset + std::min(length, info.size - offset);
  const uint64_t ps = options_.page_size;
  // Page p's bytes within it end at hi[p - first] (it must hold that many); they start at
  // 0, but for the first page at offset % ps.
  const uint64_t first = offset / ps;
  std::vector<PageKey> keys;
  std::vector<uint64_t> hi;
  for (uint64_t p = first; p <= (end - 1) / ps; ++p) {
    keys.push_back({object.file_id, p});
    hi.push_back(std::min(end, p * ps + ps) - p * ps);
  }
  auto pages = pages_->ShareIfInMemory(keys, hi, end - offset);
  if (pages.empty()) return std::nullopt;
  out.reserve(pages.size());
  for (size_t i = 0; i < pages.size(); ++i) {
    const uint64_t lo = i == 0 ? offset - first * ps : 0;
    std::string_view bytes(pages[i]->data() + lo, hi[i] - lo);
    out.push_back({std::move(pages[i]), bytes});
  }
  reads_++;
  page_hits_ += out.size();
  bytes_served_ += end - offset;
  // A sequential reader of a large object keeps its read-ahead going, whichever path
  // (inline or handler) serves each of its requests. Objects of one page have none.
  if (info.size > ps) {
    if (auto ahead = NextReadAhead(object.uri, info.size, offset, end)) {
      StartReadAhead(Target::Of(object.where, info, options_.page_size), ahead->first, ahead->second);
    }
  }
  return out;
}

std::optional<std::vector<ReadThroughCache::SharedSlice>> ReadThroughCache::ShareCached(
    std::string_view path, std::string_view version, uint64_t offset, uint64_t length) {
  auto object = CachedStat(path);
  if (!object || object->info.Version() != version) return std::nullopt;
  return ShareIfInMemory(*object, offset, length);
}

Result<ufs::ObjectInfo> ReadThroughCache::StatForRead(std::string_view path, uint64_t offset,
                                                      uint64_t length) {
  SLUICE_ASSIGN_OR_RETURN(ufs::Resolved r, mounts_->Resolve(path));
  if (!r.store || r.key.empty()) return Stat(path);
  if (auto cached = metadata_.Get(r.ObjectUri())) return *cached;
  Prefetched unused;  // the pages land in the page store, where the next Read finds them
  return ColdOpen(r, offset, length, &unused);
}

Result<ufs::ObjectInfo> ReadThroughCache::StatResolved(const ufs::Resolved& r, bool bypass_cache) {
  std::string uri = r.ObjectUri();
  if (!bypass_cache) {
    if (auto cached = metadata_.Get(uri)) return *cached;
  }
  Result<ufs::ObjectInfo> res = r.store->Stat(r.key);
  metadata_.Put(uri, res);
  return res;
}

Result<std::string> ReadThroughCache::ReadRange(std::string_view path, uint64_t offset,
                                                uint64_t length) {
  // Reads in chunks, so a length far past the object's end allocates little and the
  // first chunk of a cold object needs no separate stat.
  const uint64_t chunk = options_.max_fetch_pages * options_.page_size;
  std::string out;
  while (out.size() < length) {
    const size_t have = out.size();
    const uint64_t n = std::min<uint64_t>(length - have, chunk);
    out.resize(have + n);
    SLUICE_ASSIGN_OR_RETURN(size_t got,
                            Read(path, offset + have, std::span<char>(out.data() + have, n)));
    out.resize(have + got);
    if (got < n) break;
  }
  return out;
}

Result<size_t> ReadThroughCache::Read(std::string_view path, uint64_t offset,
                                      std::span<char> out, std::string_view expected_version) {
  reads_++;
  SLUICE_ASSIGN_OR_RETURN(ufs::Resolved r, mounts_->Resolve(path));
  if (!r.store || r.key.empty()) {
    return Status::InvalidArgument(fmt::format("'{}' is a directory", path));
  }
  for (int attempt = 0;; ++attempt) {
    std::optional<Result<ufs::ObjectInfo>> cached;
    Prefetched fetched;
    if (attempt == 0) cached = metadata_.Get(r.ObjectUri());
    Result<ufs::ObjectInfo> stat = cached          ? std::move(*cached)
                                   : attempt == 0 ? ColdOpen(r, offset, out.size(), &fetched)
                                                  : StatResolved(r, /*bypass_cache=*/true);
    SLUICE_ASSIGN_OR_RETURN(ufs::ObjectInfo info, std::move(stat));
    if (info.is_dir) return Status::InvalidArgument(fmt::format("'{}' is a directory", path));
    if (!expected_version.empty() && info.Version() != expected_version) {
      if (attempt == 0 && cached) {  // the cached stat may be the stale one: look again
        metadata_.Invalidate(r.ObjectUri());
        continue;
      }
      return Status::FailedPrecondition(fmt::format("'{}' changed: version {} is not {}", path,
                                                    info.Version(), expected_version));
    }
    Target t = Target::Of(r, std::move(info), options_.page_size);
    Result<size_t> n = ReadOnce(t, offset, out, fetched);
    if (n.ok()) {
      bytes_served_ += *n;
      MaybeReadAhead(t, offset, offset + *n);
      return n;
    }
    if (n.status().Is(StatusCode::kNotFound)) metadata_.Invalidate(t.uri);
    if (!n.status().Is(StatusCode::kFailedPrecondition) || attempt > 0) return n.status();
    // The object changed under a cached stat: drop the old version and start again.
    version_changes_++;
    metadata_.Invalidate(t.uri);
    pages_->RemoveFile(t.file_id);
  }
}

Result<ufs::ObjectInfo> ReadThroughCache::ColdOpen(const ufs::Resolved& r, uint64_t offset,
                                                   uint64_t length, Prefetched* fetched) {
  const std::string uri = r.ObjectUri();
  std::shared_ptr<OpenFlight> f;
  bool owner = false;
  {
    std::lock_guard lock(opens_mu_);
    auto [it, inserted] = opens_.try_emplace(uri);
    if (inserted) it->second = std::make_shared<OpenFlight>();
    f = it->second;
    owner = inserted;
  }
  if (!owner) {
    const Result<ufs::ObjectInfo>& res = f->Wait();
    single_flight_waits_++;
    return res;
  }
  // The object's pages may already be here (its stat expired, a load cached them, a
  // restart over a disk cache): then a stat (no bytes) finds whether their version is
  // still current; fetching them again would waste the cache.
  Result<ufs::ObjectInfo> res = Status::Internal("cold open did not run");
  try {  // waiters must be released whatever happens (bad_alloc included)
    res = recovered_pages_ || LastVersionCached(uri, offset)
              ? StatResolved(r, /*bypass_cache=*/true)
              : FetchFirst(r, offset, length, fetched);
  } catch (const std::exception& e) {
    res = Status::Internal(fmt::format("cold open of {} failed: {}", uri, e.what()));
  }
  f->Set(res);
  std::lock_guard lock(opens_mu_);
  opens_.erase(uri);
  return res;
}

namespace {
thread_local bool t_refused_put = false;
}  // namespace

bool ReadThroughCache::TakeRefusedPut() { return std::exchange(t_refused_put, false); }

bool ReadThroughCache::LastVersionCached(const std::string& uri, uint64_t offset) {
  std::optional<ufs::ObjectInfo> last = metadata_.LastKnown(uri);
  if (!last || last->is_dir) return false;
  return pages_->Contains(PageKey{FileId(uri, last->Version()),
                                  offset / options_.page_size});
}

Result<ufs::ObjectInfo> ReadThroughCache::FetchFirst(const ufs::Resolved& r, uint64_t offset,
                                                     uint64_t length, Prefetched* fetched) {
  const uint64_t ps = options_.page_size;
  const uint64_t first = offset / ps;
  const uint64_t want = (offset + std::max<uint64_t>(length, 1) + ps - 1) / ps - first;
  const uint64_t count = std::clamp<uint64_t>(want, 1, options_.max_fetch_pages);
  const std::string uri = r.ObjectUri();
  ufs_reads_++;
  Result<ufs::ReadResult> rr = r.store->ReadWithInfo(r.key, first * ps, count * ps);
  if (!rr.ok()) {
    if (rr.status().Is(StatusCode::kNotFound)) {
      metadata_.Put(uri, rr.status());
    } else {
      ufs_errors_++;
    }
    return rr.status();
  }
  ufs_bytes_ += rr->data.size();
  metadata_.Put(uri, rr->info);
  if (rr->info.is_dir) return std::move(rr->info);
  Target t = Target::Of(r, rr->info, options_.page_size);
  if (rr->data.size() == RunLength(t, first, count)) {
    fetched->first = first;
    StorePages(t, first, std::move(rr->data), &fetched->pages);
  } else {
    truncated_fetches_++;  // not cached: the read fetches these pages again
  }
  return std::move(rr->info);
}

void ReadThroughCache::StorePages(const Target& t, uint64_t first, std::string&& data,
                                  std::vector<std::shared_ptr<const std::string>>* out) {
  out->clear();
  const bool one_page = data.size() <= options_.page_size;
  // A cold open asks for whole pages, so a small object's buffer may be reserved far
  // larger than its bytes: trim it before it lives in the cache (else every cached small
  // object would pin a page-sized allocation).
  if (one_page && data.capacity() > data.size() + data.size() / 4 + 4096) data.shrink_to_fit();
  const pagestore::PutOptions put_options = PutOptionsFor(t);
  for (uint64_t off = 0, p = first; off < data.size(); off += options_.page_size, ++p) {
    // A single page moves into the store as is: no copy of the fetched bytes.
    auto page = one_page ? std::make_shared<const std::string>(std::move(data))
                         : std::make_shared<const std::string>(data.substr(off, PageLength(t, p)));
    Status put = pages_->PutShared(PageKey{t.file_id, p}, page, put_options);
    if (!put.ok()) {
      store_put_failures_++;
      t_refused_put = true;
      int64_t now = clock_->Now().time_since_epoch().count();
      int64_t last = last_put_warning_ns_.load();
      if (!put.Is(StatusCode::kResourceExhausted) && now - last > 10'000'000'000LL &&
          last_put_warning_ns_.compare_exchange_strong(last, now)) {
        SLUICE_LOG_WARN("page store failed, serving pass-through: {}", put.ToString());
      }
    }
    out->push_back(std::move(page));
  }
  if (policy_) policy_->AfterStore(t.where, t.file_id, put_options);
}

uint64_t ReadThroughCache::PageLength(const Target& t, uint64_t index) const {
  uint64_t start = index * options_.page_size;
  return start >= t.info.size ? 0 : std::min(options_.page_size, t.info.size - start);
}

uint64_t ReadThroughCache::RunLength(const Target& t, uint64_t first, uint64_t count) const {
  uint64_t start = first * options_.page_size;
  return start >= t.info.size ? 0 : std::min(count * options_.page_size, t.info.size - start);
}

Result<size_t> ReadThroughCache::ReadOnce(const Target& t, uint64_t offset, std::span<char> out,
                                          const Prefetched& fetched) {
  const uint64_t size = t.info.size;
  if (offset >= size || out.empty()) return size_t{0};
  const uint64_t end = std::min<uint64_t>(offset + out.size(), size);
  const uint64_t ps = options_.page_size;
  const uint64_t first = offset / ps, last = (end - 1) / ps;

  // The slice of `out` that page p fills, as [lo, hi) object offsets.
  auto slice = [&](uint64_t p) {
    uint64_t lo = std::max(offset, p * ps), hi = std::min(end, p * ps + ps);
    return std::pair{lo, hi};
  };
  auto from_store = [&](uint64_t p) {
    auto [lo, hi] = slice(p);
    auto got = pages_->Read(PageKey{t.file_id, p}, lo - p * ps, out.subspan(lo - offset, hi - lo));
    return got.has_value() && *got == hi - lo;
  };

  std::vector<uint64_t> missing;
  for (uint64_t p = first; p <= last; ++p) {
    if (p >= fetched.first && p - fetched.first < fetched.pages.size()) {
      // Fetched by this read's cold open: a miss, already in hand.
      auto [lo, hi] = slice(p);
      const std::string& data = *fetched.pages[p - fetched.first];
      if (data.size() >= hi - p * ps) {
        std::memcpy(out.data() + (lo - offset), data.data() + (lo - p * ps), hi - lo);
        page_misses_++;
        continue;
      }
    }
    if (from_store(p)) {
      page_hits_++;
    } else {
      missing.push_back(p);
    }
  }
  page_misses_ += missing.size();

  Status last_error;
  for (int round = 0; round < 3 && !missing.empty(); ++round) {
    std::unordered_map<uint64_t, std::shared_ptr<const std::string>> fetched;
    Status s = FetchPages(t, missing, /*wait=*/true, &fetched);
    if (!s.ok()) return s;
    std::vector<uint64_t> still;
    for (uint64_t p : missing) {
      auto it = fetched.find(p);
      if (it == fetched.end()) {
        if (!from_store(p)) still.push_back(p);
        continue;
      }
      auto [lo, hi] = slice(p);
      const std::string& data = *it->second;
      if (data.size() < hi - p * ps) {
        return Status::DataLoss(fmt::format("{}: page {} is {} bytes, expected at least {}", t.uri,
                                            p, data.size(), hi - p * ps));
      }
      std::memcpy(out.data() + (lo - offset), data.data() + (lo - p * ps), hi - lo);
    }
    missing = std::move(still);
  }
  if (!missing.empty()) {
    return Status::Unavailable(fmt::format(
        "{}: {} page(s) could not be fetched (fetches kept failing)", t.uri, missing.size()));
  }
  return static_cast<size_t>(end - offset);
}

Status ReadThroughCache::FetchPages(
    const Target& t, const std::vector<uint64_t>& pages, bool wait,
    std::unordered_map<uint64_t, std::shared_ptr<const std::string>>* fetched) {
  std::vector<uint64_t> owned;
  std::vector<std::pair<uint64_t, std::shared_ptr<Flight>>> joined;
  {
    std::lock_guard lock(flights_mu_);
    for (uint64_t p : pages) {
      PageKey key{t.file_id, p};
      if (auto it = flights_.find(key); it != flights_.end()) {
        if (wait) joined.emplace_back(p, it->second);
        continue;
      }
      if (pages_->Contains(key)) continue;  // stored by a fetch that just finished
      flights_.emplace(key, std::make_shared<Flight>());
      owned.push_back(p);
    }
  }

  Status first_error;
  for (size_t i = 0; i < owned.size();) {
    size_t j = i;
    while (j + 1 < owned.size() && owned[j + 1] == owned[j] + 1 &&
           j + 1 - i < options_.max_fetch_pages) {
      ++j;
    }
    std::vector<std::shared_ptr<const std::string>> data;
    Status s;
    try {  // the flights below must complete whatever happens (bad_alloc included)
      s = FetchRun(t, owned[i], j - i + 1, &data);
    } catch (const std::exception& e) {
      s = Status::Internal(fmt::format("fetch of {} failed: {}", t.uri, e.what()));
    }
    for (size_t k = i; k <= j; ++k) {
      PageKey key{t.file_id, owned[k]};
      std::shared_ptr<const std::string> page = s.ok() ? data[k - i] : nullptr;
      if (page) (*fetched)[owned[k]] = page;
      std::shared_ptr<Flight> f;
      {
        std::lock_guard lock(flights_mu_);
        auto it = flights_.find(key);
        f = it->second;
        flights_.erase(it);
      }
      f->Set(page);
    }
    if (!s.ok() && first_error.ok()) first_error = s;
    i = j + 1;
  }

  for (auto& [p, f] : joined) {
    const std::shared_ptr<const std::string>& page = f->Wait();
    single_flight_waits_++;
    // A failed joined fetch leaves the page missing: the caller fetches it itself.
    if (page) (*fetched)[p] = page;
  }
  return first_error;
}

Status ReadThroughCache::FetchRun(const Target& t, uint64_t first, uint64_t count,
                                  std::vector<std::shared_ptr<const std::string>>* out) {
  const uint64_t ps = options_.page_size;
  const uint64_t expected = RunLength(t, first, count);
  uint64_t got = 0;
  for (int attempt = 0; attempt < options_.fetch_attempts; ++attempt) {
    ufs_reads_++;
    Result<std::string> r = t.where.store->Read(t.where.key, first * ps, expected, t.version);
    if (!r.ok()) {
      ufs_errors_++;
      return r.status();
    }
    ufs_bytes_ += r->size();
    got = r->size();
    if (got != expected) {
      truncated_fetches_++;
      continue;
    }
    StorePages(t, first, std::move(r).value(), out);  // stored before the flights complete
    return Status::OK();
  }
  return Status::DataLoss(fmt::format("{}: short read at page {}: got {} of {} bytes, {} tries",
                                      t.uri, first, got, expected, options_.fetch_attempts));
}

void ReadThroughCache::MaybeReadAhead(const Target& t, uint64_t offset, uint64_t end) {
  if (auto pages = NextReadAhead(t.uri, t.info.size, offset, end)) {
    StartReadAhead(t, pages->first, pages->second);
  }
}

std::optional<std::pair<uint64_t, uint64_t>> ReadThroughCache::NextReadAhead(
    const std::string& uri, uint64_t size, uint64_t offset, uint64_t end) {
  if (options_.readahead_pages == 0 || end <= offset) return std::nullopt;
  const uint64_t ps = options_.page_size;
  const uint64_t npages = (size + ps - 1) / ps;
  uint64_t from, to;
  {
    std::lock_guard lock(streams_mu_);
    if (streams_.size() > 4096) streams_.clear();
    auto [it, fresh] = streams_.try_emplace(uri);
    Stream& s = it->second;
    if (!fresh && offset == s.next_offset) {
      s.window = std::min<uint32_t>(options_.readahead_pages, std::max<uint32_t>(1, s.window * 2));
    } else {
      s.window = 0;
      s.ahead_until = 0;
    }
    s.next_offset = end;
    if (s.window == 0) return std::nullopt;
    uint64_t next = (end - 1) / ps + 1;
    from = std::max(next, s.ahead_until);
    to = std::min(npages, next + s.window);
    if (const uint64_t b = options_.readahead_boundary; b != 0) {
      to = std::min(to, ((end - 1) / b + 1) * b / ps);  // the end of this block
    }
    if (from >= to) return std::nullopt;
    s.ahead_until = to;
  }
  return std::pair{from, to};
}

void ReadThroughCache::StartReadAhead(const Target& t, uint64_t from, uint64_t to) {
  if (fetchers_->Pending() > 64) return;  // the fetchers are behind: readers come first
  fetchers_->Submit([this, t, from, to] {
    std::vector<uint64_t> pages;
    for (uint64_t p = from; p < to; ++p) {
      if (!pages_->Contains(PageKey{t.file_id, p})) pages.push_back(p);
    }
    if (pages.empty()) return;
    std::unordered_map<uint64_t, std::shared_ptr<const std::string>> fetched;
    Status s = FetchPages(t, pages, /*wait=*/false, &fetched);
    readahead_pages_ += fetched.size();
    if (!s.ok()) SLUICE_LOG_DEBUG("read-ahead of {} failed: {}", t.uri, s.ToString());
  });
}

size_t ReadThroughCache::Invalidate(std::string_view path) { return DropCached(path, nullptr); }

void ReadThroughCache::InvalidateStat(std::string_view path) {
  // The path's own stat, and its directories' (one may have been cached as missing
  // before this object created it, or as present before its last object went).
  for (std::string_view p = path; p.size() > 1;) {
    auto r = mounts_->Resolve(p);
    if (r.ok() && r->store) metadata_.Invalidate(r->ObjectUri());
    size_t slash = p.rfind('/');
    if (slash == 0 || slash == std::string_view::npos) break;
    p = p.substr(0, slash);
  }
}

size_t ReadThroughCache::Forget(std::string_view path, const ufs::ObjectInfo& known) {
  return DropCached(path, &known);
}

size_t ReadThroughCache::DropCached(std::string_view path, const ufs::ObjectInfo* known) {
  auto r = mounts_->Resolve(path);
  if (!r.ok() || !r->store) return 0;
  const std::string uri = r->ObjectUri();
  const std::string known_version = known != nullptr ? known->Version() : "";
  size_t dropped = 0;
  if (known != nullptr) dropped += pages_->RemoveFile(FileId(uri, known_version));
  // The version last known too, its stat expired or not (an object replaced or deleted
  // since: its pages are still cached).
  if (auto last = metadata_.LastKnown(uri); last && last->Version() != known_version) {
    dropped += pages_->RemoveFile(FileId(uri, last->Version()));
  }
  metadata_.Invalidate(uri);
  return dropped;
}

size_t ReadThroughCache::ForgetBelow(std::string_view dir) {
  auto r = mounts_->Resolve(dir);
  if (!r.ok() || !r->store) return 0;
  std::string prefix = r->ObjectUri();
  if (!prefix.ends_with('/')) prefix += '/';  // not the pages of "/mount/dir2/..."
  size_t dropped = 0;
  for (const auto& [uri, version] : metadata_.InvalidatePrefix(prefix)) {
    dropped += pages_->RemoveFile(FileId(uri, version));
  }
  return dropped;
}

size_t ReadThroughCache::AdmitWritten(std::string_view path, const ufs::ObjectInfo& info,
                                      const PageSource& source) {
  auto r = mounts_->Resolve(path);
  if (!r.ok() || !r->store) return 0;
  Target t = Target::Of(*r, info, options_.page_size);
  metadata_.Put(t.uri, info);
  const uint64_t ps = options_.page_size;
  std::string buf;
  size_t cached = 0;
  const pagestore::PutOptions put_options = PutOptionsFor(t);
  for (uint64_t p = 0; p * ps < info.size; ++p) {
    buf.resize(PageLength(t, p));
    auto n = source(p * ps, std::span<char>(buf.data(), buf.size()));
    if (!n.ok() || *n != buf.size()) break;
    if (pages_->Put(PageKey{t.file_id, p}, buf, put_options).ok()) {
      cached++;
    } else {
      store_put_failures_++;
    }
  }
  if (policy_) policy_->AfterStore(t.where, t.file_id, put_options);
  return cached;
}

pagestore::PutOptions ReadThroughCache::PutOptionsFor(const Target& t) const {
  return policy_ ? policy_->OnStore(t.where, t.file_id) : pagestore::PutOptions{};
}

void ReadThroughCache::Remember(std::string_view path, const ufs::ObjectInfo& info) {
  auto r = mounts_->Resolve(path);
  if (!r.ok() || !r->store || r->key.empty()) return;
  metadata_.Put(r->ObjectUri(), info);
}

ReadThroughStats ReadThroughCache::GetStats() const {
  ReadThroughStats s;
  s.reads = reads_;
  s.bytes_served = bytes_served_;
  s.page_hits = page_hits_;
  s.page_misses = page_misses_;
  s.ufs_reads = ufs_reads_;
  s.ufs_bytes = ufs_bytes_;
  s.ufs_errors = ufs_errors_;
  s.single_flight_waits = single_flight_waits_;
  s.readahead_pages = readahead_pages_;
  s.version_changes = version_changes_;
  s.store_put_failures = store_put_failures_;
  s.truncated_fetches = truncated_fetches_;
  return s;
}

}  // namespace sluice::worker
