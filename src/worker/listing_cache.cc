#include "worker/listing_cache.h"

#include <fmt/format.h>

namespace sluice::worker {

Result<ufs::ListPage> ListingCache::List(const ufs::Resolved& r, const ufs::ListOptions& o,
                                         std::string_view tag) {
  std::string key = fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}", r.mount, o.prefix, o.delimiter,
                                o.continuation_token, o.start_after, o.max_keys, tag);
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
  }
  {
    std::lock_guard lock(mu_);
    if (auto f = flights_.find(key); f != flights_.end() && f->second == flight) flights_.erase(f);
    // A write or delete landed while we listed: the page may predate it, so don't keep it.
    if (page.ok() && generation == generation_.load()) {
      if (entries_.size() >= max_entries_) entries_.clear();
      entries_[key] = Entry{*page, now + (tag.empty() ? ttl_ : std::max(ttl_, kTaggedTtl))};
    }
  }
  flight->Set(page);
  return page;
}

void ListingCache::Invalidate(std::string_view mount) {
  std::string prefix = std::string(mount) + "\n";
  std::lock_guard lock(mu_);
  generation_++;
  std::erase_if(entries_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
  // Listings in flight now may predate the change: later requests start their own.
  std::erase_if(flights_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
}

}  // namespace sluice::worker
