#include "pagestore/disk_format.h"

#include <fmt/format.h>

#include <charconv>
#include <cstring>

namespace sluice::pagestore {
namespace {

constexpr size_t kHeaderChecksumOffset = 56;
constexpr std::string_view kPageSuffix = ".page";
constexpr std::string_view kTempSuffix = ".tmp";

void Put16(char* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint64_t Get(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

void EncodePageHeader(const PageHeader& header, std::span<char, kPageHeaderSize> out) {
  char* p = out.data();
  std::memset(p, 0, kPageHeaderSize);
  std::memcpy(p, kPageMagic.data(), 4);
  Put16(p + 4, kPageFormatVersion);
  Put16(p + 6, static_cast<uint16_t>(kPageHeaderSize));
  Put64(p + 8, header.key.file_id.hi);
  Put64(p + 16, header.key.file_id.lo);
  Put64(p + 24, header.key.index);
  Put64(p + 32, header.data_length);
  Put64(p + 40, header.data_checksum);
  Put32(p + 48, 0);  // flags
  Put32(p + 52, 0);  // reserved
  Put64(p + kHeaderChecksumOffset, Checksum(p, kHeaderChecksumOffset));
}

bool DecodePageHeader(std::span<const char, kPageHeaderSize> in, PageHeader* header) {
  const char* p = in.data();
  if (std::memcmp(p, kPageMagic.data(), 4) != 0) return false;
  if (Get(p + 4, 2) != kPageFormatVersion || Get(p + 6, 2) != kPageHeaderSize) return false;
  if (Get(p + kHeaderChecksumOffset, 8) != Checksum(p, kHeaderChecksumOffset)) return false;
  header->key.file_id.hi = Get(p + 8, 8);
  header->key.file_id.lo = Get(p + 16, 8);
  header->key.index = Get(p + 24, 8);
  header->data_length = Get(p + 32, 8);
  header->data_checksum = Get(p + 40, 8);
  return true;
}

std::string PageSubdirName(const Hash128& file_id) { return file_id.ToHex().substr(0, 2); }

std::string PageFileName(const PageKey& key) {
  return fmt::format("{}-{}{}", key.file_id.ToHex(), key.index, kPageSuffix);
}

bool ParsePageFileName(std::string_view name, PageKey* key) {
  if (!name.ends_with(kPageSuffix)) return false;
  name.remove_suffix(kPageSuffix.size());
  if (name.size() < 34 || name[32] != '-') return false;
  if (!Hash128::FromHex(name.substr(0, 32), &key->file_id)) return false;
  std::string_view index = name.substr(33);
  auto [ptr, ec] = std::from_chars(index.data(), index.data() + index.size(), key->index);
  return ec == std::errc() && ptr == index.data() + index.size();
}

std::string TempFileName(const PageKey& key, uint64_t unique) {
  return fmt::format(".{}-{}.{}{}", key.file_id.ToHex(), key.index, unique, kTempSuffix);
}

bool IsTempFileName(std::string_view name) {
  return name.starts_with('.') && name.ends_with(kTempSuffix);
}

}  // namespace sluice::pagestore
