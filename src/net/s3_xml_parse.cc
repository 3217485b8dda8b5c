// Parsing of the S3 API's XML request bodies (declared in s3_xml.h) with pugixml.
// pugixml neither throws (built without exceptions by default) nor expands DTDs or
// external entities, so hostile bodies cannot reach the file system or blow up memory.

#include <charconv>
#include <pugixml.hpp>
#include <string>
#include <string_view>

#include "net/s3_xml.h"

namespace sluice::net {
namespace {

constexpr size_t kMaxDeleteKeys = 1000;
constexpr int kMaxPartNumber = 10000;

Status Malformed(std::string_view why) {
  return Status::InvalidArgument("MalformedXML: " + std::string(why));
}

// An element's name without any namespace prefix ("s3:Part" -> "Part").
std::string_view LocalName(const pugi::xml_node& n) {
  std::string_view name = n.name();
  const size_t colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node Child(const pugi::xml_node& parent, std::string_view name) {
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && LocalName(c) == name) return c;
  }
  return {};
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Loads `xml` and returns its document element if it is named `root`.
Result<pugi::xml_node> LoadRoot(pugi::xml_document& doc, std::string_view xml,
                                std::string_view root) {
  const pugi::xml_parse_result parsed =
      doc.load_buffer(xml.data(), xml.size(), pugi::parse_default | pugi::parse_ws_pcdata_single,
                      pugi::encoding_utf8);
  if (!parsed) return Malformed(parsed.description());
  pugi::xml_node el = doc.document_element();
  if (!el || LocalName(el) != root) {
    return Malformed("the root element must be " + std::string(root));
  }
  return el;
}

}  // namespace

Result<std::vector<CompletedPart>> ParseCompleteMultipartUpload(std::string_view xml) {
  pugi::xml_document doc;
  SLUICE_ASSIGN_OR_RETURN(pugi::xml_node root, LoadRoot(doc, xml, "CompleteMultipartUpload"));
  std::vector<CompletedPart> parts;
  for (pugi::xml_node p = root.first_child(); p; p = p.next_sibling()) {
    if (p.type() != pugi::node_element) continue;
    if (LocalName(p) != "Part") return Malformed("unexpected element " + std::string(p.name()));
    pugi::xml_node num = Child(p, "PartNumber");
    pugi::xml_node etag = Child(p, "ETag");
    if (!num || !etag) return Malformed("a Part needs a PartNumber and an ETag");
    std::string_view num_text = Trim(num.child_value());
    int n = 0;
    auto [end, ec] = std::from_chars(num_text.data(), num_text.data() + num_text.size(), n);
    if (ec != std::errc() || end != num_text.data() + num_text.size() || n < 1 ||
        n > kMaxPartNumber) {
      return Malformed("bad PartNumber '" + std::string(num_text) + "'");
    }
    std::string_view tag = Trim(etag.child_value());
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') {
      tag = tag.substr(1, tag.size() - 2);
    }
    if (tag.empty()) return Malformed("empty ETag");
    if (!parts.empty() && n <= parts.back().part_number) {
      return Status::InvalidArgument(
          "InvalidPartOrder: the list of parts was not in ascending order");
    }
    parts.push_back(CompletedPart{n, std::string(tag)});
  }
  if (parts.empty()) return Malformed("no parts");
  return parts;
}

Result<DeleteObjectsRequest> ParseDeleteObjects(std::string_view xml) {
  pugi::xml_document doc;
  SLUICE_ASSIGN_OR_RETURN(pugi::xml_node root, LoadRoot(doc, xml, "Delete"));
  DeleteObjectsRequest req;
  for (pugi::xml_node c = root.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    const std::string_view name = LocalName(c);
    if (name == "Quiet") {
      const std::string_view v = Trim(c.child_value());
      if (v == "true" || v == "True" || v == "TRUE") {
        req.quiet = true;
      } else if (v == "false" || v == "False" || v == "FALSE") {
        req.quiet = false;
      } else {
        return Malformed("Quiet must be true or false");
      }
    } else if (name == "Object") {
      pugi::xml_node key = Child(c, "Key");
      // Keys are taken verbatim (no trimming): S3 keys may begin or end with spaces.
      if (!key || std::string_view(key.child_value()).empty()) {
        return Malformed("an Object needs a Key");
      }
      if (req.keys.size() == kMaxDeleteKeys) {
        return Malformed("at most 1000 objects may be deleted in one request");
      }
      req.keys.emplace_back(key.child_value());
    } else {
      return Malformed("unexpected element " + std::string(c.name()));
    }
  }
  if (req.keys.empty()) return Malformed("no objects to delete");
  return req;
}

}  // namespace sluice::net
