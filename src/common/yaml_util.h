// Helpers for reading config values from YAML with clear errors: sizes ("64MiB"),
// durations ("30s"), and typed scalars. Each reads `node[key]` if present and leaves
// the destination unchanged otherwise. Thread-safe (pure functions).
#pragma once

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <limits>
#include <string>
#include <utility>

#include "common/units.h"
#include "sluice/status.h"

namespace sluice::yaml {

Status ReadSize(const YAML::Node& node, const char* key, uint64_t* out);
Status ReadDuration(const YAML::Node& node, const char* key, Duration* out);
Status ReadString(const YAML::Node& node, const char* key, std::string* out);
Status ReadBool(const YAML::Node& node, const char* key, bool* out);
Status ReadInt(const YAML::Node& node, const char* key, int64_t* out);
// An integer that fits T: -1 for an unsigned T, or 2^32+1 for a 32-bit one, is an error
// naming the key, not a value wrapped into range.
template <typename T>
Status ReadNumber(const YAML::Node& node, const char* key, T* out) {
  int64_t v = static_cast<int64_t>(*out);
  SLUICE_RETURN_IF_ERROR(ReadInt(node, key, &v));
  if (!std::in_range<T>(v)) {
    return Status::InvalidArgument(fmt::format("config key '{}': {} is out of range ({} to {})",
                                               key, v, std::numeric_limits<T>::min(),
                                               std::numeric_limits<T>::max()));
  }
  *out = static_cast<T>(v);
  return Status::OK();
}
// Fails if `node` (a map) has a key not in `allowed`: typos in config files are errors.
Status CheckKeys(const YAML::Node& node, std::initializer_list<const char*> allowed,
                 const std::string& where);

}  // namespace sluice::yaml
