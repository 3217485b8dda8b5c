#include "worker/listing_cache.h"

#include <fmt/format.h>

namespace sluice::worker {

Result<ufs::ListPage> ListingCache::List(const ufs::Resolved& r, const ufs::ListOptions& o) {
  std::string key = fmt::format("{}\n{}\n{}\n{}\n{}\n{}", r.mount, o.prefix, o.delimiter,
                                o.continuation_token, o.start_after, o.max_keys);
  auto now = clock_->Now();
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && now < it->second.expires) return it->second.page;
  }
  const uint64_t generation = generation_.load();
  SLUICE_ASSIGN_OR_RETURN(ufs::ListPage page, r.store->List(o));
  std::lock_guard lock(mu_);
  // A write or delete landed while we listed: the page may predate it, so don't keep it.
  if (generation != generation_.load()) return page;
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_[key] = Entry{page, now + ttl_};
  return page;
}

void ListingCache::Invalidate(std::string_view mount) {
  std::string prefix = std::string(mount) + "\n";
  std::lock_guard lock(mu_);
  generation_++;
  std::erase_if(entries_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
}

}  // namespace sluice::worker
