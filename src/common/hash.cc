#include "common/hash.h"

#include <fmt/format.h>
#include <xxhash.h>

namespace sluice {

std::string Hash128::ToHex() const { return fmt::format("{:016x}{:016x}", hi, lo); }

bool Hash128::FromHex(std::string_view hex, Hash128* out) {
  if (hex.size() != 32) return false;
  auto parse = [](std::string_view s, uint64_t* v) {
    *v = 0;
    for (char c : s) {
      int d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else
        return false;
      *v = (*v << 4) | static_cast<uint64_t>(d);
    }
    return true;
  };
  return parse(hex.substr(0, 16), &out->hi) && parse(hex.substr(16), &out->lo);
}

uint64_t Hash64(std::string_view data, uint64_t seed) {
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

Hash128 Hash128Of(std::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return Hash128{h.high64, h.low64};
}

uint64_t Checksum(const void* data, size_t len) { return XXH3_64bits(data, len); }

}  // namespace sluice
