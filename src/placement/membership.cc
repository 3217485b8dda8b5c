// StaticMembership and ParsePeers. EtcdMembership lives in etcd_membership.cc.
#include "placement/membership.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>
#include <utility>

namespace sluice::placement {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool ValidHost(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {  // IPv6 literal
    return std::all_of(host.begin() + 1, host.end() - 1, [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
  }
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

bool ValidPort(std::string_view port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return !port.empty() && ec == std::errc() && end == port.data() + port.size() && value >= 1 &&
         value <= 65535;
}

// One "host:port" or "http://host:port[/]" entry.
Result<Member> ParsePeer(std::string_view entry) {
  auto bad = [entry](std::string_view why) {
    return Status::InvalidArgument(fmt::format("peer \"{}\": {}", entry, why));
  };
  std::string_view rest = entry;
  if (rest.rfind("http://", 0) == 0) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return bad("only http:// peers are supported");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) return bad("expected host:port, without a path");
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return bad("missing :port");
  std::string_view host = rest.substr(0, colon);
  std::string_view port = rest.substr(colon + 1);
  if (host.empty()) return bad("missing host");
  if (host.front() != '[' && host.find(':') != std::string_view::npos) {
    return bad("write IPv6 addresses in brackets ([::1]:port)");
  }
  if (!ValidHost(host)) return bad("malformed host");
  if (!ValidPort(port)) return bad("port must be a number in 1..65535");
  std::string id = fmt::format("{}:{}", host, port);
  return Member{id, "http://" + id};
}

}  // namespace

StaticMembership::StaticMembership(std::vector<Member> members) : members_(std::move(members)) {
  std::sort(members_.begin(), members_.end(),
            [](const Member& a, const Member& b) { return a.id < b.id; });
}

Result<std::vector<Member>> ParsePeers(std::string_view spec) {
  if (Trim(spec).empty()) return Status::InvalidArgument("peer list is empty");
  std::vector<Member> out;
  std::set<std::string, std::less<>> seen;
  size_t index = 0;
  for (std::string_view rest = spec;; ++index) {
    size_t comma = rest.find(',');
    std::string_view entry = Trim(rest.substr(0, comma));
    if (entry.empty()) {
      return Status::InvalidArgument(
          fmt::format("peer list \"{}\": entry {} is empty", spec, index + 1));
    }
    SLUICE_ASSIGN_OR_RETURN(Member m, ParsePeer(entry));
    if (!seen.insert(m.id).second) {
      return Status::InvalidArgument(
          fmt::format("peer list \"{}\": {} is listed twice", spec, m.id));
    }
    out.push_back(std::move(m));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

}  // namespace sluice::placement
