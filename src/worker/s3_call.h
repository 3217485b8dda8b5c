// One S3 request being served by S3Service: the parsed bucket, key and query, plus the
// request's streams. Internal to s3_service*.cc.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "net/http.h"
#include "worker/s3_service.h"

namespace sluice::worker {

struct S3Service::Call {
  Call(const net::HttpRequest& r, net::BodyReader* b, net::ResponseWriter& o)
      : req(r), body(b), out(o) {}

  const net::HttpRequest& req;
  net::BodyReader* body;  // the raw body, or a hashing wrapper when the payload is signed
  net::ResponseWriter& out;
  std::unique_ptr<net::BodyReader> owned_body;  // the hashing wrapper, if any
  std::string request_id;
  std::string bucket;  // decoded; "" for the service root
  std::string key;     // decoded; "" for bucket-level requests
  std::vector<std::pair<std::string, std::string>> query;
  std::string op = "unknown";  // metric label, set by the dispatcher
  int status = 0;              // what was answered, for metrics

  bool Has(std::string_view name) const {
    for (const auto& [k, v] : query) {
      if (k == name) return true;
    }
    return false;
  }
  std::string Get(std::string_view name) const {
    for (const auto& [k, v] : query) {
      if (k == name) return v;
    }
    return "";
  }
  std::string Path() const { return "/" + bucket + (key.empty() ? "" : "/" + key); }
  std::string Resource() const { return "/" + bucket + (key.empty() ? "" : "/" + key); }
};

}  // namespace sluice::worker
