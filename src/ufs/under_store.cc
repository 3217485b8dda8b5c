#include "ufs/under_store.h"

#include <fmt/format.h>

#include <algorithm>

namespace sluice::ufs {

bool IsStoredHeader(std::string_view name) {
  static constexpr std::string_view kSystem[] = {"content-type",     "content-encoding",
                                                 "content-disposition", "content-language",
                                                 "cache-control",    "expires"};
  for (std::string_view h : kSystem) {
    if (name == h) return true;
  }
  if (!name.starts_with("x-amz-meta-") || name.size() == 11) return false;
  // An HTTP token, lowercase: nothing that could end a header line or start another.
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

std::string ObjectInfo::Version() const {
  if (!etag.empty()) return etag;
  return fmt::format("s{}-m{}", size, mtime_ns);
}

Result<ReadResult> UnderStore::ReadWithInfo(std::string_view key, uint64_t offset,
                                            uint64_t length) {
  SLUICE_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
  if (info.is_dir) return Status::InvalidArgument(fmt::format("'{}' is a directory", key));
  SLUICE_ASSIGN_OR_RETURN(std::string data, Read(key, offset, length, info.Version()));
  return ReadResult{std::move(data), std::move(info)};
}

Result<std::string> NormalizeKey(std::string_view key) {
  if (key.size() > 4096) return Status::InvalidArgument("key longer than 4096 bytes");
  if (key.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("key contains a NUL byte");
  }
  std::string out;
  out.reserve(key.size());
  size_t i = 0;
  while (i <= key.size()) {
    size_t j = key.find('/', i);
    if (j == std::string_view::npos) j = key.size();
    std::string_view seg = key.substr(i, j - i);
    if (seg == "..") {
      return Status::PermissionDenied(fmt::format("key '{}' escapes its mount ('..')", key));
    }
    if (!seg.empty() && seg != ".") {
      if (!out.empty()) out += '/';
      out += seg;
    }
    i = j + 1;
  }
  // Keep a trailing '/' (a directory marker or a prefix) when the input had one.
  if (!out.empty() && !key.empty() && key.back() == '/') out += '/';
  return out;
}

}  // namespace sluice::ufs
