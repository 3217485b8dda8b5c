// Parsing and printing of sizes ("64M", "512KiB") and durations ("500ms", "30s").
// Sizes are powers of two: K/KiB = 1024, M/MiB = 1024^2, G/GiB, T/TiB. A bare number
// is bytes (sizes) or seconds (durations). Thread-safe (pure functions).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice {

using Duration = std::chrono::nanoseconds;

Result<uint64_t> ParseSize(std::string_view text);
Result<Duration> ParseDuration(std::string_view text);

// "1.5 MiB", "512 B".
std::string FormatSize(uint64_t bytes);
// "250ms", "30s", "5m".
std::string FormatDuration(Duration d);

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;

}  // namespace sluice
