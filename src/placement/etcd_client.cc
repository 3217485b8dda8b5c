#include "placement/etcd_client.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <utility>

namespace sluice::placement {
namespace {

using nlohmann::json;

std::string Base64Encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(n);
  return out;
}

Result<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return Status::Internal("etcd sent malformed base64");
  std::string out(in.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return Status::Internal("etcd sent malformed base64");
  size_t padding = 0;
  while (padding < 2 && padding < in.size() && in[in.size() - 1 - padding] == '=') ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

// A gateway int64: a JSON string ("123") or, leniently, a number. 0 if absent or garbage.
int64_t Int64Field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (!it->is_string()) return 0;
  const std::string& s = it->get_ref<const std::string&>();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size() ? v : 0;
}

std::string StringField(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> SplitUrls(std::string_view urls) {
  std::vector<std::string> out;
  while (!urls.empty()) {
    size_t comma = urls.find(',');
    std::string_view u = urls.substr(0, comma);
    urls = comma == std::string_view::npos ? std::string_view() : urls.substr(comma + 1);
    while (!u.empty() && u.front() == ' ') u.remove_prefix(1);
    while (!u.empty() && (u.back() == ' ' || u.back() == '/')) u.remove_suffix(1);
    if (u.empty()) continue;
    out.push_back(u.find("://") == std::string_view::npos ? fmt::format("http://{}", u)
                                                          : std::string(u));
  }
  return out;
}

ufs::CurlClientOptions HttpOptions(Duration request_timeout) {
  ufs::CurlClientOptions o;
  o.max_retries = 0;  // the caller polls; another endpoint is the only retry
  o.connect_timeout = std::min<Duration>(std::chrono::seconds(1), request_timeout);
  o.request_timeout = request_timeout;
  o.max_pooled_handles = 4;
  return o;
}

}  // namespace

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(std::string_view urls,
                                                       Duration request_timeout) {
  std::vector<std::string> list = SplitUrls(urls);
  if (list.empty()) return Status::InvalidArgument("etcd URL list is empty");
  for (const std::string& u : list) {
    if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) {
      return Status::InvalidArgument(
          fmt::format("etcd URL \"{}\": only http:// and https:// are supported", u));
    }
  }
  if (request_timeout <= Duration::zero()) {
    return Status::InvalidArgument("etcd request timeout must be positive");
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(list), request_timeout));
}

EtcdClient::EtcdClient(std::vector<std::string> urls, Duration request_timeout)
    : urls_(std::move(urls)), http_(HttpOptions(request_timeout)) {}

std::string EtcdClient::urls() const {
  std::string out;
  for (const std::string& u : urls_) out += (out.empty() ? "" : ",") + u;
  return out;
}

std::string EtcdClient::PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key (etcd's convention for "no end")
}

Result<nlohmann::json> EtcdClient::Call(std::string_view path, const json& body) {
  const std::string payload = body.dump();
  const size_t first = preferred_.load(std::memory_order_relaxed);
  Status last;
  for (size_t i = 0; i < urls_.size(); ++i) {
    const size_t index = (first + i) % urls_.size();
    ufs::HttpRequest req;
    req.method = "POST";
    req.url = urls_[index] + std::string(path);
    req.headers = {"Content-Type: application/json"};
    req.body = payload;
    Result<ufs::HttpResponse> resp = http_.Perform(req);
    if (!resp.ok() && !resp.status().IsRetryable()) return resp.status();
    if (!resp.ok() || resp->status >= 500) {
      last =
          resp.ok() ? ufs::HttpError(resp->status, "POST " + req.url, resp->body) : resp.status();
      continue;
    }
    preferred_.store(index, std::memory_order_relaxed);
    json answer = json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
    if (resp->status / 100 != 2) {
      std::string detail = answer.is_object() ? StringField(answer, "message") : resp->body;
      return ufs::HttpError(resp->status, fmt::format("POST {}", req.url), detail);
    }
    if (!answer.is_object()) {
      return Status::Internal(
          fmt::format("POST {}: etcd answered non-JSON: {}", req.url, resp->body.substr(0, 200)));
    }
    return answer;
  }
  return Status(last.code(), fmt::format("etcd unreachable at {}: {}", urls(), last.message()));
}

Result<int64_t> EtcdClient::Grant(Duration ttl) {
  const auto seconds = std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(ttl).count());
  SLUICE_ASSIGN_OR_RETURN(json answer, Call("/v3/lease/grant", {{"TTL", seconds}}));
  int64_t id = Int64Field(answer, "ID");
  if (id == 0) {
    return Status::Internal(fmt::format("etcd lease grant: no lease id in {}", answer.dump()));
  }
  return id;
}

Status EtcdClient::Put(std::string_view key, std::string_view value, int64_t lease) {
  json body = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) body["lease"] = std::to_string(lease);
  return Call("/v3/kv/put", body).status();
}

Result<bool> EtcdClient::KeepAlive(int64_t lease) {
  SLUICE_ASSIGN_OR_RETURN(json answer,
                          Call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}}));
  auto result = answer.find("result");
  if (result == answer.end() || !result->is_object()) {
    return Status::Internal(fmt::format("etcd keepalive: unexpected answer {}", answer.dump()));
  }
  return Int64Field(*result, "TTL") > 0;
}

Result<std::vector<EtcdClient::KeyValue>> EtcdClient::Range(std::string_view prefix) {
  json body = {{"key", Base64Encode(prefix)}, {"range_end", Base64Encode(PrefixEnd(prefix))}};
  SLUICE_ASSIGN_OR_RETURN(json answer, Call("/v3/kv/range", body));
  std::vector<KeyValue> out;
  auto kvs = answer.find("kvs");
  if (kvs == answer.end()) return out;  // nothing matched
  if (!kvs->is_array()) return Status::Internal("etcd range: \"kvs\" is not an array");
  for (const json& kv : *kvs) {
    if (!kv.is_object()) return Status::Internal("etcd range: malformed key-value");
    KeyValue item;
    SLUICE_ASSIGN_OR_RETURN(item.key, Base64Decode(StringField(kv, "key")));
    SLUICE_ASSIGN_OR_RETURN(item.value, Base64Decode(StringField(kv, "value")));
    item.lease = Int64Field(kv, "lease");
    out.push_back(std::move(item));
  }
  return out;
}

Status EtcdClient::Revoke(int64_t lease) {
  return Call("/v3/lease/revoke", {{"ID", std::to_string(lease)}}).status();
}

}  // namespace sluice::placement
