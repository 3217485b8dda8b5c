#include "net/sigv4_canonical.h"

#include <algorithm>
#include <ctime>

#include "net/s3_xml.h"

namespace sluice::net::sigv4_internal {
namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool EqualsLower(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// Trimall: leading/trailing whitespace removed, runs of whitespace collapsed to one space.
void AppendTrimAll(std::string& out, std::string_view v) {
  bool pending_space = false, any = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      pending_space = any;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    any = true;
    out += c;
  }
}

std::string JoinSorted(std::vector<std::pair<std::string, std::string>> kv) {
  std::sort(kv.begin(), kv.end());
  std::string s;
  for (const auto& [k, v] : kv) {
    if (!s.empty()) s += '&';
    s += k;
    s += '=';
    s += v;
  }
  return s;
}

}  // namespace

RawParams SplitRawQuery(std::string_view query) {
  RawParams out;
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view item = query.substr(pos, amp - pos);
    if (!item.empty()) {
      const size_t eq = item.find('=');
      if (eq == std::string_view::npos) {
        out.emplace_back(std::string(item), "");
      } else {
        out.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
      }
    }
    pos = amp + 1;
  }
  return out;
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (unsigned char c : s) {
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += plus_is_space && s[i] == '+' ? ' ' : s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::vector<std::string> CanonicalUris(std::string_view raw_path) {
  if (raw_path.empty()) raw_path = "/";
  std::vector<std::string> out;
  const std::optional<std::string> decoded = PercentDecode(raw_path);
  out.push_back(decoded ? UriEncode(*decoded, true) : std::string(raw_path));
  if (out[0] != raw_path) out.emplace_back(raw_path);
  return out;
}

std::vector<std::string> CanonicalQueries(const RawParams& params, bool presigned) {
  std::vector<std::pair<std::string, std::string>> norm, raw;
  for (const auto& [k, v] : params) {
    if (presigned && k == "X-Amz-Signature") continue;
    const std::optional<std::string> dk = PercentDecode(k, true), dv = PercentDecode(v, true);
    norm.emplace_back(dk ? UriEncode(*dk, false) : k, dv ? UriEncode(*dv, false) : v);
    raw.emplace_back(k, v);
  }
  std::vector<std::string> out{JoinSorted(std::move(norm))};
  std::string r = JoinSorted(std::move(raw));
  if (r != out[0]) out.push_back(std::move(r));
  return out;
}

std::string CanonicalHeaders(const HttpRequest& request, const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    out += name;
    out += ':';
    bool first = true;
    for (const auto& [k, v] : request.headers) {
      if (!EqualsLower(k, name)) continue;
      if (!first) out += ',';
      first = false;
      AppendTrimAll(out, v);
    }
    out += '\n';
  }
  return out;
}

std::optional<int64_t> ParseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  for (size_t i = 0; i < 15; ++i) {
    if (i != 8 && (s[i] < '0' || s[i] > '9')) return std::nullopt;
  }
  auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  return static_cast<int64_t>(timegm(&tm));
}

std::string FormatAmzDate(int64_t unix_s) {
  const std::string iso = Iso8601(unix_s * 1'000'000'000);  // 2024-05-01T12:00:00.000Z
  return iso.substr(0, 4) + iso.substr(5, 2) + iso.substr(8, 2) + "T" + iso.substr(11, 2) +
         iso.substr(14, 2) + iso.substr(17, 2) + "Z";
}

}  // namespace sluice::net::sigv4_internal
