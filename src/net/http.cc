#include "net/http.h"

#include <strings.h>

#include <algorithm>

namespace sluice::net {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

constexpr size_t kReadAllChunk = 64 * 1024;

}  // namespace

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return v;
  }
  return {};
}

bool HttpRequest::HasHeader(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
}

Result<std::string> BodyReader::ReadAll(uint64_t limit) {
  std::string body;
  for (;;) {
    size_t old_size = body.size();
    // Grow geometrically but never allocate more than limit + 1 bytes: one byte past the
    // limit is enough to tell that the body is too long.
    uint64_t room = limit + 1 - old_size;
    size_t want = static_cast<size_t>(std::min<uint64_t>(
        room, std::max<uint64_t>(kReadAllChunk, std::min<uint64_t>(old_size, 16 * kReadAllChunk))));
    body.resize(old_size + want);
    Result<size_t> n = Read(std::span<char>(body.data() + old_size, want));
    if (!n.ok()) return n.status();
    body.resize(old_size + *n);
    if (*n == 0) return body;
    if (body.size() > limit) {
      return Status::InvalidArgument("request body exceeds " + std::to_string(limit) + " bytes");
    }
  }
}

Status ResponseWriter::Send(int status, std::string_view content_type, std::string_view body) {
  SetStatus(status);
  if (!content_type.empty()) SetHeader("Content-Type", content_type);
  SetHeader("Content-Length", std::to_string(body.size()));
  if (!body.empty()) SLUICE_RETURN_IF_ERROR(Write(body));
  return Finish();
}

std::optional<std::string> UrlDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string UrlEncode(std::string_view s, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string_view name = item.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    // A malformed escape is kept verbatim rather than dropping the parameter.
    auto decoded_name = UrlDecode(name, /*plus_is_space=*/true);
    auto decoded_value = UrlDecode(value, /*plus_is_space=*/true);
    out.emplace_back(decoded_name ? std::move(*decoded_name) : std::string(name),
                     decoded_value ? std::move(*decoded_value) : std::string(value));
  }
  return out;
}

}  // namespace sluice::net
