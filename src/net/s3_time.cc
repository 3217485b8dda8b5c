// Iso8601, HttpDate and ParseHttpDate from s3_xml.h.

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "net/s3_xml.h"

namespace sluice::net {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr const char* kWeekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month, day, hour, minute, second, weekday, millis;
};

Civil ToCivil(int64_t unix_ns) {
  int64_t secs = unix_ns / kNsPerSecond;
  int64_t rem_ns = unix_ns % kNsPerSecond;
  if (rem_ns < 0) {
    rem_ns += kNsPerSecond;
    --secs;
  }
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    --days;
  }
  Civil c{};
  c.weekday = static_cast<unsigned>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  c.day = doy - (153 * mp + 2) / 5 + 1;
  c.month = mp < 10 ? mp + 3 : mp - 9;
  c.year = static_cast<int64_t>(yoe) + era * 400 + (c.month <= 2);
  c.hour = static_cast<unsigned>(sod / 3600);
  c.minute = static_cast<unsigned>(sod / 60 % 60);
  c.second = static_cast<unsigned>(sod % 60);
  c.millis = static_cast<unsigned>(rem_ns / 1'000'000);
  return c;
}

bool ParseUnsigned(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 9) return false;
  out = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    out = out * 10 + (ch - '0');
  }
  return true;
}

int MonthIndex(std::string_view s) {
  for (int i = 0; i < 12; ++i) {
    if (s.size() == 3 &&
        std::tolower(static_cast<unsigned char>(s[0])) ==
            std::tolower(static_cast<unsigned char>(kMonths[i][0])) &&
        std::tolower(static_cast<unsigned char>(s[1])) == kMonths[i][1] &&
        std::tolower(static_cast<unsigned char>(s[2])) == kMonths[i][2]) {
      return i + 1;
    }
  }
  return 0;
}

// "08:49:37" -> seconds of the day.
bool ParseClock(std::string_view s, int64_t& out) {
  int64_t h = 0, m = 0, sec = 0;
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return false;
  if (!ParseUnsigned(s.substr(0, 2), h) || !ParseUnsigned(s.substr(3, 2), m) ||
      !ParseUnsigned(s.substr(6, 2), sec) || h > 23 || m > 59 || sec > 60) {
    return false;
  }
  out = h * 3600 + m * 60 + sec;
  return true;
}

// "GMT", "UTC", "UT", "Z" or a numeric "+hhmm"/"-hhmm" offset -> seconds east of UTC.
bool ParseZone(std::string_view s, int64_t& offset) {
  offset = 0;
  if (s == "GMT" || s == "UTC" || s == "UT" || s == "Z") return true;
  int64_t hhmm = 0;
  if (s.size() != 5 || (s[0] != '+' && s[0] != '-') || !ParseUnsigned(s.substr(1), hhmm)) {
    return false;
  }
  offset = (hhmm / 100 * 3600 + hhmm % 100 * 60) * (s[0] == '-' ? -1 : 1);
  return true;
}

std::vector<std::string_view> SplitSpaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

int64_t Assemble(int64_t year, int month, int64_t day, int64_t sod, int64_t zone_offset) {
  if (month < 1 || day < 1 || day > 31 || year < 1970 || year > 9999) return -1;
  const int64_t secs =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 + sod -
      zone_offset;
  return secs < 0 ? -1 : secs * kNsPerSecond;
}

}  // namespace

std::string Iso8601(int64_t unix_ns) {
  const Civil c = ToCivil(unix_ns);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ",
                static_cast<long long>(c.year), c.month, c.day, c.hour, c.minute, c.second,
                c.millis);
  return buf;
}

std::string HttpDate(int64_t unix_ns) {
  const Civil c = ToCivil(unix_ns);
  char buf[40];
  if (c.year < 0 || c.year > 9999) {
    std::snprintf(buf, sizeof(buf), "%s, %02u %s %04lld %02u:%02u:%02u GMT", kWeekdays[c.weekday],
                  c.day, kMonths[c.month - 1], static_cast<long long>(c.year), c.hour, c.minute,
                  c.second);
    return buf;
  }
  // "Sun, 06 Nov 1994 08:49:37 GMT" by hand: this is on every GET's path, and snprintf
  // costs more than the rest of the header.
  auto two = [](char* at, unsigned v) {
    at[0] = static_cast<char>('0' + v / 10 % 10);
    at[1] = static_cast<char>('0' + v % 10);
  };
  std::string out = "Ddd, 00 Mmm 0000 00:00:00 GMT";
  std::memcpy(out.data(), kWeekdays[c.weekday], 3);
  two(out.data() + 5, c.day);
  std::memcpy(out.data() + 8, kMonths[c.month - 1], 3);
  const auto year = static_cast<unsigned>(c.year);
  two(out.data() + 12, year / 100);
  two(out.data() + 14, year % 100);
  two(out.data() + 17, c.hour);
  two(out.data() + 20, c.minute);
  two(out.data() + 23, c.second);
  return out;
}

int64_t ParseHttpDate(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  std::vector<std::string_view> t = SplitSpaces(s);
  int64_t day = 0, year = 0, sod = 0, zone = 0;
  if (t.size() == 6 && t[0].ends_with(',')) {
    // IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" (also RFC 1123/2822 zones).
    const int month = MonthIndex(t[2]);
    if (!ParseUnsigned(t[1], day) || !ParseUnsigned(t[3], year) || t[3].size() != 4 ||
        !ParseClock(t[4], sod) || !ParseZone(t[5], zone)) {
      return -1;
    }
    return Assemble(year, month, day, sod, zone);
  }
  if (t.size() == 4 && t[0].ends_with(',')) {
    // RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT".
    std::string_view d = t[1];
    if (d.size() != 9 || d[2] != '-' || d[6] != '-') return -1;
    const int month = MonthIndex(d.substr(3, 3));
    if (!ParseUnsigned(d.substr(0, 2), day) || !ParseUnsigned(d.substr(7, 2), year) ||
        !ParseClock(t[2], sod) || !ParseZone(t[3], zone)) {
      return -1;
    }
    year += year < 70 ? 2000 : 1900;
    return Assemble(year, month, day, sod, zone);
  }
  if (t.size() == 5) {
    // asctime "Sun Nov  6 08:49:37 1994".
    const int month = MonthIndex(t[1]);
    if (!ParseUnsigned(t[2], day) || !ParseClock(t[3], sod) || !ParseUnsigned(t[4], year) ||
        t[4].size() != 4) {
      return -1;
    }
    return Assemble(year, month, day, sod, 0);
  }
  return -1;
}

}  // namespace sluice::net
