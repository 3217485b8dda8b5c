#include "common/units.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace sluice {
namespace {

// Splits "64MiB" into 64 and "MiB"; fails on no digits or on junk in the number.
Status SplitNumber(std::string_view text, double* number, std::string_view* suffix) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  if (i == 0)
    return Status::InvalidArgument(fmt::format("'{}' does not start with a number", text));
  std::string digits(text.substr(0, i));
  char* end = nullptr;
  *number = std::strtod(digits.c_str(), &end);
  if (end != digits.c_str() + digits.size()) {
    return Status::InvalidArgument(fmt::format("'{}' is not a number", digits));
  }
  *suffix = text.substr(i);
  while (!suffix->empty() && suffix->front() == ' ') suffix->remove_prefix(1);
  return Status::OK();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  double n = 0;
  std::string_view suffix;
  SLUICE_RETURN_IF_ERROR(SplitNumber(text, &n, &suffix));
  std::string s = Lower(suffix);
  uint64_t mult = 0;
  if (s.empty() || s == "b")
    mult = 1;
  else if (s == "k" || s == "kb" || s == "kib")
    mult = kKiB;
  else if (s == "m" || s == "mb" || s == "mib")
    mult = kMiB;
  else if (s == "g" || s == "gb" || s == "gib")
    mult = kGiB;
  else if (s == "t" || s == "tb" || s == "tib")
    mult = 1024 * kGiB;
  else
    return Status::InvalidArgument(fmt::format("'{}': unknown size unit '{}'", text, suffix));
  double bytes = n * static_cast<double>(mult);
  if (bytes > 1.8e19) return Status::InvalidArgument(fmt::format("'{}' is too large", text));
  return static_cast<uint64_t>(bytes);
}

Result<Duration> ParseDuration(std::string_view text) {
  double n = 0;
  std::string_view suffix;
  SLUICE_RETURN_IF_ERROR(SplitNumber(text, &n, &suffix));
  std::string s = Lower(suffix);
  double ns_per = 0;
  if (s == "ns")
    ns_per = 1;
  else if (s == "us")
    ns_per = 1e3;
  else if (s == "ms")
    ns_per = 1e6;
  else if (s.empty() || s == "s")
    ns_per = 1e9;
  else if (s == "m")
    ns_per = 60e9;
  else if (s == "h")
    ns_per = 3600e9;
  else if (s == "d")
    ns_per = 86400e9;
  else
    return Status::InvalidArgument(fmt::format("'{}': unknown duration unit '{}'", text, suffix));
  const double ns = n * ns_per;
  if (ns >= 9.2e18) {  // int64 nanoseconds end at ~292 years
    return Status::InvalidArgument(fmt::format("'{}': duration too long", text));
  }
  return Duration(static_cast<int64_t>(ns));
}

std::string FormatSize(uint64_t bytes) {
  if (bytes < kKiB) return fmt::format("{} B", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes) / kKiB;
  int u = 0;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string FormatDuration(Duration d) {
  auto ns = d.count();
  if (ns % 3600'000'000'000LL == 0 && ns != 0) return fmt::format("{}h", ns / 3600'000'000'000LL);
  if (ns % 60'000'000'000LL == 0 && ns != 0) return fmt::format("{}m", ns / 60'000'000'000LL);
  if (ns % 1'000'000'000LL == 0) return fmt::format("{}s", ns / 1'000'000'000LL);
  if (ns % 1'000'000LL == 0) return fmt::format("{}ms", ns / 1'000'000LL);
  return fmt::format("{}us", ns / 1000);
}

}  // namespace sluice
