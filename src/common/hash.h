// Hashing: fast non-cryptographic hashes (xxHash3) for placement and page keys, and
// the checksum used on page data. Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

struct Hash128 {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const Hash128&) const = default;
  auto operator<=>(const Hash128&) const = default;
  std::string ToHex() const;  // 32 lowercase hex digits
  static bool FromHex(std::string_view hex, Hash128* out);
};

uint64_t Hash64(std::string_view data, uint64_t seed = 0);
Hash128 Hash128Of(std::string_view data);
// Checksum of page bytes (XXH3-64). Fast enough to run on every disk read.
uint64_t Checksum(const void* data, size_t len);

}  // namespace sluice
