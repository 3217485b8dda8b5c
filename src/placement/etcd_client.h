// EtcdClient: the few etcd v3 calls that membership needs, over etcd's JSON gateway
// (grpc-gateway: POST /v3/lease/grant, /v3/kv/put, /v3/lease/keepalive, /v3/kv/range,
// /v3/lease/revoke). Keys and values travel base64-encoded and int64s as JSON strings;
// this class hides both. What the gateway does (etcd 3.4.23, checked by hand):
//  - grant answers {"ID":"<int64>","TTL":"<s>"}; TTLs below 2 s come back as 2 s;
//  - keepalive answers 200 {"result":{"ID":..,"TTL":"<s>"}} (newline-terminated) while
//    the lease lives and 200 {"result":{"ID":..}} (no TTL) once it is gone;
//  - put with a gone lease, and revoke of a gone lease, answer 404 {"code":5,...};
//  - range leaves out "kvs" and "count" when nothing matches;
//  - leases survive a restart on the same data dir and get their full TTL again.
//
// Endpoints: a comma-separated URL list, tried in turn; a request that cannot reach one
// endpoint (connection error, timeout, 5xx) goes to the next, and the endpoint that
// answered is tried first next time. No retries beyond that: callers poll anyway.
//
// Errors: kUnavailable / kDeadlineExceeded when no endpoint answered (the message names
// the URLs); an error answer from etcd maps as ufs::HttpError (a lease that is gone is
// kNotFound); a body that is not the expected JSON is kInternal.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/units.h"
#include "sluice/status.h"
#include "ufs/curl_client.h"

namespace sluice::placement {

class EtcdClient {
 public:
  struct KeyValue {
    std::string key;
    std::string value;
    int64_t lease = 0;  // 0: no lease
  };

  // `urls`: "http://host:port[,http://host:port...]" (a missing scheme means http://).
  // kInvalidArgument for an empty list or an entry with another scheme.
  static Result<std::unique_ptr<EtcdClient>> Create(std::string_view urls,
                                                    Duration request_timeout);

  // Grants a lease of `ttl` (rounded up to whole seconds; etcd raises TTLs below its
  // minimum, 2 s with default election settings). Returns the lease id.
  Result<int64_t> Grant(Duration ttl);
  // Puts key = value, attached to `lease` (0: none). kNotFound if the lease is gone.
  Status Put(std::string_view key, std::string_view value, int64_t lease);
  // Refreshes the lease. false: the lease is gone (expired or revoked).
  Result<bool> KeepAlive(int64_t lease);
  // Every key that starts with `prefix`, in key order.
  Result<std::vector<KeyValue>> Range(std::string_view prefix);
  // Revokes the lease (its keys go with it). kNotFound if it is already gone.
  Status Revoke(int64_t lease);

  // The URLs, comma-separated, for messages.
  std::string urls() const;
  // The smallest key above every key with this prefix (etcd's range_end for a prefix).
  static std::string PrefixEnd(std::string_view prefix);

 private:
  EtcdClient(std::vector<std::string> urls, Duration request_timeout);
  // POSTs `body` to `path` on each endpoint in turn; the parsed answer.
  Result<nlohmann::json> Call(std::string_view path, const nlohmann::json& body);

  const std::vector<std::string> urls_;
  ufs::CurlClient http_;
  std::atomic<size_t> preferred_{0};  // index into urls_ of the endpoint that last answered
};

}  // namespace sluice::placement
