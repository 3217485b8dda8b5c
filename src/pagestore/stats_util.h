// Helpers for summing PageStoreStats over shards, directories and tiers.
// Thread-safety: pure functions.
#pragma once

#include "pagestore/page_store.h"

namespace sluice::pagestore {

// Adds every field of `part` to `total`.
inline void Accumulate(const PageStoreStats& part, PageStoreStats* total) {
  total->hits += part.hits;
  total->misses += part.misses;
  total->bytes_read += part.bytes_read;
  total->puts += part.puts;
  total->bytes_written += part.bytes_written;
  total->evictions += part.evictions;
  total->bytes_evicted += part.bytes_evicted;
  total->admissions_refused += part.admissions_refused;
  total->quota_evictions += part.quota_evictions;
  total->checksum_failures += part.checksum_failures;
  total->io_errors += part.io_errors;
  total->pages += part.pages;
  total->bytes_used += part.bytes_used;
  total->capacity += part.capacity;
  total->pinned_pages += part.pinned_pages;
}

}  // namespace sluice::pagestore
