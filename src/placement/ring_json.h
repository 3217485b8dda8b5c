// RingSettings as JSON, the form GET /v1/cluster carries them in: written by the worker,
// read by the client, so both build the same ring.
#pragma once

#include <nlohmann/json.hpp>

#include "placement/placement.h"

namespace sluice::placement {

// {"policy","virtual_points","block_size","replicas","replica_rules":[{"prefix","replicas"}]}
nlohmann::json RingJson(const RingSettings& ring);
// The settings RingJson wrote; kInvalidArgument if a field is missing or mistyped, or the
// settings do not validate.
Result<RingSettings> RingFromJson(const nlohmann::json& j);

}  // namespace sluice::placement
