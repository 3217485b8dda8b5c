// MakeEvictionPolicy: the policy factory.
#include "pagestore/eviction_policy.h"

#include <string>

#include "pagestore/lru_policy.h"
#include "pagestore/none_policy.h"
#include "pagestore/s3fifo_policy.h"

namespace sluice::pagestore {

Result<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(std::string_view name,
                                                           uint64_t capacity) {
  if (name == "s3fifo") return std::unique_ptr<EvictionPolicy>(new S3FifoPolicy(capacity));
  if (name == "lru") return std::unique_ptr<EvictionPolicy>(new LruPolicy());
  if (name == "none") return std::unique_ptr<EvictionPolicy>(new NonePolicy());
  return Status::InvalidArgument("unknown eviction policy '" + std::string(name) +
                                 "' (expected s3fifo, lru or none)");
}

}  // namespace sluice::pagestore
