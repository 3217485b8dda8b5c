#include "worker/listing_cache.h"

#include <fmt/format.h>

namespace sluice::worker {

Result<ufs::ListPage> ListingCache::List(const ufs::Resolved& r, const ufs::ListOptions& o,
                                         std::string_view tag) {
  // "mount\n", the options each length-prefixed (a prefix or a delimiter may hold any
  // byte, '\n' included: no two option sets may share a key), then "\n" and the tag.
  std::string key = fmt::format("{}\n{}:{}{}:{}{}:{}{}:{}{}\n{}", r.mount, o.prefix.size(), o.prefix,
                                o.delimiter.size(), o.delimiter, o.continuation_token.size(),
                                o.continuation_token, o.start_after.size(), o.start_after,
                                o.max_keys, tag);
  const auto now = clock_->Now();
  std::shared_ptr<Flight> flight;
  uint64_t generation = 0;
  bool leader = false;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && now < it->second.expires) return it->second.page;
    auto [f, inserted] = flights_.try_emplace(key);
    if (inserted) f->second = std::make_shared<Flight>();
    flight = f->second;
    leader = inserted;
    generation = generation_.load();
  }
  if (!leader) return flight->Wait();  // someone is listing this page: theirs will do
  Result<ufs::ListPage> page = Status::Internal("listing threw");
  try {  // the followers must be woken whatever happens
    page = r.store->List(o);
  } catch (const std::exception& e) {
    page = Status::Internal(fmt::format("listing {}: {}", o.prefix, e.what()));
  } catch (...) {
    page = Status::Internal(fmt::format("listing {} threw", o.prefix));
  }
  {
    std::lock_guard lock(mu_);
    if (auto f = flights_.find(key); f != flights_.end() && f->second == flight) flights_.erase(f);
    // A write or delete landed while we listed: the page may predate it, so don't keep it.
    // A job's page is its snapshot of the listing, kept regardless.
    if (page.ok() && (!tag.empty() || generation == generation_.load())) {
      try {
        Keep(std::move(key), *page, now, !tag.empty());
      } catch (const std::bad_alloc&) {  // not kept; the page is still answered
      }
    }
  }
  flight->Set(page);
  return page;
}

void ListingCache::Keep(std::string key, const ufs::ListPage& page, Clock::TimePoint now,
                        bool tagged) {
  if (entries_.size() >= max_entries_) {  // expired pages first, then untagged ones, then all
    std::erase_if(entries_, [&](const auto& kv) { return kv.second.expires <= now; });
    if (entries_.size() >= max_entries_) {
      std::erase_if(entries_, [](const auto& kv) { return !kv.second.tagged; });
    }
    if (entries_.size() >= max_entries_) entries_.clear();
  }
  entries_[std::move(key)] =
      Entry{page, now + (tagged ? std::max(ttl_, kTaggedTtl) : ttl_), tagged};
}

void ListingCache::Invalidate(std::string_view mount) {
  std::string prefix = std::string(mount) + "\n";
  std::lock_guard lock(mu_);
  generation_++;
  // Load jobs' pages stay: a job lists a snapshot and does not reload what it wrote.
  std::erase_if(entries_, [&](const auto& kv) {
    return !kv.second.tagged && kv.first.starts_with(prefix);
  });
  // Listings in flight now may predate the change: later requests start their own. (A key
  // ends with its tag: an untagged key ends with the separator.)
  std::erase_if(flights_, [&](const auto& kv) {
    return kv.first.back() == '\n' && kv.first.starts_with(prefix);
  });
}

}  // namespace sluice::worker
