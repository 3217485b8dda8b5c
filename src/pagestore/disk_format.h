// The on-disk page format (docs/page_format.md): file naming and the fixed 64-byte page
// header that precedes a page's data.
//
//   <dir>/sluice-pages/<first 2 hex digits of file id>/<file id hex>-<index>.page
//
// Header (little-endian):
//   0  magic "SLPG"          4   format version (u16)   6  header length (u16)
//   8  file id hi (u64)      16  file id lo (u64)       24 page index (u64)
//   32 data length (u64)     40  data checksum (u64, XXH3-64 of the data)
//   48 flags (u32, 0)        52  reserved (u32, 0)      56 header checksum (u64, XXH3-64
//                                                          of bytes [0, 56))
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "pagestore/page_store.h"

namespace sluice::pagestore {

inline constexpr std::string_view kPageMagic = "SLPG";
inline constexpr uint16_t kPageFormatVersion = 1;
inline constexpr size_t kPageHeaderSize = 64;
// The largest page's data (CacheOptions::page_size is at most 16 MiB).
inline constexpr uint64_t kMaxPageBytes = uint64_t{16} << 20;
inline constexpr std::string_view kPagesDirName = "sluice-pages";
inline constexpr std::string_view kLockFileName = "LOCK";

struct PageHeader {
  PageKey key;
  uint64_t data_length = 0;
  uint64_t data_checksum = 0;
};

// Writes the header (with its own checksum) into `out`.
void EncodePageHeader(const PageHeader& header, std::span<char, kPageHeaderSize> out);
// Parses and validates magic, version, header length and header checksum. Returns false
// for anything that is not a valid version-1 header.
bool DecodePageHeader(std::span<const char, kPageHeaderSize> in, PageHeader* header);

// "<2 hex>" : the fan-out subdirectory of a file's pages.
std::string PageSubdirName(const Hash128& file_id);
// "<file id hex>-<index>.page"
std::string PageFileName(const PageKey& key);
// Parses a PageFileName; false for anything else.
bool ParsePageFileName(std::string_view name, PageKey* key);
// ".<file id hex>-<index>.<unique>.tmp": a page being written, never read.
std::string TempFileName(const PageKey& key, uint64_t unique);
bool IsTempFileName(std::string_view name);

}  // namespace sluice::pagestore
