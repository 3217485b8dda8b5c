// The /v1 dataset operations: load jobs, pins and the cache rules (v1_api.h).
#include <fmt/format.h>

#include "worker/v1_api.h"

namespace sluice::worker {

using nlohmann::json;

bool V1Api::HandleDataset(const std::string& op, const net::HttpRequest& req,
                          net::BodyReader& body, net::ResponseWriter& out) {
  const std::string& m = req.method;
  std::string id, path;
  for (auto& [k, v] : net::ParseQuery(req.query)) {
    if (k == "id") id = v;
    if (k == "path") path = v;
  }
  if (op == "load" || op == "load/stop") {
    if (!jobs_) return SendErr(out, Status::Unimplemented("load jobs are not enabled")), true;
    if (op == "load" && m == "POST") {
      auto text = body.ReadAll(1 << 20);
      if (!text.ok()) return SendErr(out, text.status()), true;
      json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) return SendErr(out, Status::InvalidArgument("the body is not JSON")), true;
      auto spec = LoadSpec::FromJson(j);
      if (!spec.ok()) return SendErr(out, spec.status()), true;
      auto job = jobs_->Submit(*spec);
      if (!job.ok()) return SendErr(out, job.status()), true;
      return SendJson(out, 200, *job), true;
    }
    if (op == "load" && m == "GET") {
      if (id.empty()) return SendJson(out, 200, json{{"jobs", jobs_->List()}}), true;
      auto job = jobs_->Get(id);
      if (!job.ok()) return SendErr(out, job.status()), true;
      return SendJson(out, 200, *job), true;
    }
    if (op == "load/stop" && m == "POST") {
      auto job = jobs_->Stop(id);
      if (!job.ok()) return SendErr(out, job.status()), true;
      return SendJson(out, 200, *job), true;
    }
    return false;
  }
  if (op == "prefetch" && m == "POST") {
    if (!jobs_) return SendErr(out, Status::Unimplemented("prefetch is not enabled")), true;
    auto text = body.ReadAll(64 << 20);
    if (!text.ok()) return SendErr(out, text.status()), true;
    json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("paths") || !j["paths"].is_array()) {
      return SendErr(out, Status::InvalidArgument("the body must be {\"paths\": [...]}")), true;
    }
    std::vector<std::string> paths;
    for (const auto& p : j["paths"]) {
      if (!p.is_string()) return SendErr(out, Status::InvalidArgument("paths must be strings")), true;
      paths.push_back(p.get<std::string>());
    }
    const size_t queued = jobs_->Prefetch(paths);
    return SendJson(out, 200, json{{"queued", queued}, {"dropped", paths.size() - queued}}), true;
  }
  if ((op == "pin" || op == "unpin") && m == "POST") {
    if (!rules_) return SendErr(out, Status::Unimplemented("pins are not enabled")), true;
    if (path.empty()) return SendErr(out, Status::InvalidArgument("path= is missing")), true;
    auto pages = op == "pin" ? rules_->Pin(path) : rules_->Unpin(path);
    if (!pages.ok()) return SendErr(out, pages.status()), true;
    return SendJson(out, 200, json{{"pages", *pages}, {"pins", rules_->Pins()}}), true;
  }
  if (op == "rules" && m == "GET") {
    if (!rules_) return SendJson(out, 200, json::object()), true;
    return SendJson(out, 200, rules_->Json()), true;
  }
  return false;
}

}  // namespace sluice::worker
