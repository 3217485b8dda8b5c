// PageKey helpers and file ids.
#include <fmt/format.h>

#include <string>

#include "pagestore/page_store.h"

namespace sluice::pagestore {

std::string PageKey::ToString() const { return fmt::format("{}:{}", file_id.ToHex(), index); }

Hash128 MakeFileId(std::string_view object_uri, std::string_view version, uint64_t page_size) {
  std::string buf;
  buf.reserve(object_uri.size() + version.size() + 24);
  buf.append(object_uri);
  buf.push_back('\0');
  buf.append(version);
  buf.push_back('\0');
  buf.append(std::to_string(page_size));
  return Hash128Of(buf);
}

}  // namespace sluice::pagestore
