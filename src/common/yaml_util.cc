#include "common/yaml_util.h"

#include <fmt/format.h>

namespace sluice::yaml {
namespace {

Result<std::string> Scalar(const YAML::Node& node, const char* key) {
  const YAML::Node v = node[key];
  if (!v.IsScalar())
    return Status::InvalidArgument(fmt::format("config: '{}' must be a scalar", key));
  return v.as<std::string>();
}

}  // namespace

Status ReadSize(const YAML::Node& node, const char* key, uint64_t* out) {
  if (!node[key]) return Status::OK();
  SLUICE_ASSIGN_OR_RETURN(std::string s, Scalar(node, key));
  auto v = ParseSize(s);
  if (!v.ok()) return v.status().WithContext(fmt::format("config: '{}'", key));
  *out = *v;
  return Status::OK();
}

Status ReadDuration(const YAML::Node& node, const char* key, Duration* out) {
  if (!node[key]) return Status::OK();
  SLUICE_ASSIGN_OR_RETURN(std::string s, Scalar(node, key));
  auto v = ParseDuration(s);
  if (!v.ok()) return v.status().WithContext(fmt::format("config: '{}'", key));
  *out = *v;
  return Status::OK();
}

Status ReadString(const YAML::Node& node, const char* key, std::string* out) {
  if (!node[key]) return Status::OK();
  SLUICE_ASSIGN_OR_RETURN(*out, Scalar(node, key));
  return Status::OK();
}

Status ReadBool(const YAML::Node& node, const char* key, bool* out) {
  if (!node[key]) return Status::OK();
  SLUICE_ASSIGN_OR_RETURN(std::string s, Scalar(node, key));
  if (s == "true" || s == "yes" || s == "on")
    *out = true;
  else if (s == "false" || s == "no" || s == "off")
    *out = false;
  else
    return Status::InvalidArgument(fmt::format("config: '{}' must be true or false", key));
  return Status::OK();
}

Status ReadInt(const YAML::Node& node, const char* key, int64_t* out) {
  if (!node[key]) return Status::OK();
  SLUICE_ASSIGN_OR_RETURN(std::string s, Scalar(node, key));
  try {
    size_t used = 0;
    int64_t v = std::stoll(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
    *out = v;
  } catch (const std::exception&) {
    return Status::InvalidArgument(
        fmt::format("config: '{}' must be an integer, got '{}'", key, s));
  }
  return Status::OK();
}

Status CheckKeys(const YAML::Node& node, std::initializer_list<const char*> allowed,
                 const std::string& where) {
  if (!node) return Status::OK();
  if (!node.IsMap()) return Status::InvalidArgument(fmt::format("config: {} must be a map", where));
  for (const auto& kv : node) {
    std::string k = kv.first.as<std::string>();
    bool ok = false;
    for (const char* a : allowed) ok = ok || k == a;
    if (!ok)
      return Status::InvalidArgument(fmt::format("config: unknown key '{}' in {}", k, where));
  }
  return Status::OK();
}

}  // namespace sluice::yaml
