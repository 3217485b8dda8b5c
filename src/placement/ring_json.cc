#include "placement/ring_json.h"

#include <fmt/format.h>

namespace sluice::placement {

using nlohmann::json;

json RingJson(const RingSettings& ring) {
  json rules = json::array();
  for (const auto& r : ring.replica_rules) {
    rules.push_back({{"prefix", r.prefix}, {"replicas", r.replicas}});
  }
  return {{"policy", ring.policy},         {"virtual_points", ring.virtual_points},
          {"block_size", ring.block_size}, {"replicas", ring.replicas},
          {"replica_rules", rules}};
}

Result<RingSettings> RingFromJson(const json& j) {
  try {
    RingSettings r;
    r.policy = j.at("policy").get<std::string>();
    r.virtual_points = j.at("virtual_points").get<uint32_t>();
    r.block_size = j.at("block_size").get<uint64_t>();
    r.replicas = j.at("replicas").get<int>();
    for (const auto& rule : j.at("replica_rules")) {
      r.replica_rules.push_back(
          {rule.at("prefix").get<std::string>(), rule.at("replicas").get<int>()});
    }
    SLUICE_RETURN_IF_ERROR(r.Validate());
    return r;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(fmt::format("bad ring settings: {}", e.what()));
  }
}

}  // namespace sluice::placement
