#include "ufs/aws_credentials.h"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>
#include <sstream>

#include "common/logging.h"
#include "ufs/curl_client.h"

namespace sluice::ufs {
namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;

// Credential endpoints are local (a link-local address, a sidecar) or STS: short timeouts,
// so a machine without them learns it quickly.
CurlClientOptions EndpointOptions() {
  CurlClientOptions o;
  o.max_retries = 1;
  o.connect_timeout = std::chrono::seconds(1);
  o.request_timeout = std::chrono::seconds(5);
  o.max_pooled_handles = 2;
  return o;
}

Result<std::string> ReadWholeFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Unavailable(fmt::format("cannot read {} '{}'", what, path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string FormEncode(std::initializer_list<std::pair<std::string_view, std::string_view>> kv) {
  std::string out;
  for (const auto& [k, v] : kv) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += UriEncode(v, /*keep_slash=*/false);
  }
  return out;
}

Status Failed(const Result<HttpResponse>& r, std::string_view what) {
  if (!r.ok()) return Status::Unavailable(fmt::format("{}: {}", what, r.status().message()));
  return Status::Unavailable(fmt::format("{}: HTTP {}: {}", what, r->status,
                                         r->body.substr(0, 200)));
}

// One attempt at the instance metadata service: IMDSv2 (a session token first), then v1
// when the token is refused with an HTTP answer (v1-only services, some emulators).
// `absent` is set when nothing answered at all (not on EC2).
Result<AwsCredentials> FetchImds(CurlClient& http, const ImdsSource& src, bool* absent) {
  *absent = false;
  HttpRequest token_req;
  token_req.method = "PUT";
  token_req.url = src.endpoint + "/latest/api/token";
  token_req.headers = {"X-aws-ec2-metadata-token-ttl-seconds: 21600"};
  Result<HttpResponse> token = http.Perform(token_req);
  if (!token.ok()) {
    *absent = true;
    return Status::Unavailable(
        fmt::format("instance metadata at {}: {}", src.endpoint, token.status().message()));
  }
  std::vector<std::string> headers;
  if (token->status == 200) {
    headers.push_back("X-aws-ec2-metadata-token: " + token->body);
  }
  HttpRequest role_req;
  role_req.url = src.endpoint + "/latest/meta-data/iam/security-credentials/";
  role_req.headers = headers;
  Result<HttpResponse> role = http.Perform(role_req);
  if (role.ok() && role->status == 404) {  // an instance without a role
    *absent = true;
    return Status::NotFound("instance metadata: no IAM role on this instance");
  }
  if (!role.ok() || role->status != 200) return Failed(role, "instance metadata: role name");
  std::string name = role->body.substr(0, role->body.find('\n'));
  while (!name.empty() && (name.back() == '\r' || name.back() == ' ')) name.pop_back();
  if (name.empty()) return Status::Unavailable("instance metadata: empty role name");
  HttpRequest creds_req;
  creds_req.url = role_req.url + UriEncode(name, /*keep_slash=*/false);
  creds_req.headers = headers;
  Result<HttpResponse> creds = http.Perform(creds_req);
  if (!creds.ok() || creds->status != 200) {
    return Failed(creds, fmt::format("instance metadata: credentials of role '{}'", name));
  }
  return ParseCredentialsJson(creds->body, "instance metadata");
}

Result<AwsCredentials> FetchContainer(CurlClient& http, const ContainerSource& src) {
  HttpRequest req;
  req.url = src.url;
  std::string token = src.auth_token;
  if (!src.auth_token_file.empty()) {
    SLUICE_ASSIGN_OR_RETURN(token, ReadWholeFile(src.auth_token_file, "container token file"));
  }
  if (!token.empty()) req.headers.push_back("Authorization: " + token);
  Result<HttpResponse> r = http.Perform(req);
  if (!r.ok() || r->status != 200) return Failed(r, fmt::format("container credentials {}", src.url));
  return ParseCredentialsJson(r->body, "container credentials");
}

Result<AwsCredentials> FetchWebIdentity(CurlClient& http, const WebIdentitySource& src) {
  SLUICE_ASSIGN_OR_RETURN(std::string token,
                          ReadWholeFile(src.token_file, "web identity token file"));
  std::string body = FormEncode({{"Action", "AssumeRoleWithWebIdentity"},
                                 {"RoleArn", src.role_arn},
                                 {"RoleSessionName", src.session_name},
                                 {"Version", "2011-06-15"},
                                 {"WebIdentityToken", token}});
  HttpRequest req;
  req.method = "POST";
  req.url = src.sts_endpoint + "/";
  req.headers = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
                 "Accept: application/xml"};
  req.body = body;
  Result<HttpResponse> r = http.Perform(req);
  if (!r.ok() || r->status != 200) {
    return Failed(r, fmt::format("STS AssumeRoleWithWebIdentity ({})", src.role_arn));
  }
  return ParseAssumeRoleResponse(r->body);
}

}  // namespace

int64_t SystemNowNs() {
  return duration_cast<nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

RefreshingProvider::RefreshingProvider(std::string name, Fetch fetch, WallClock now)
    : name_(std::move(name)), fetch_(std::move(fetch)), now_(std::move(now)) {}

Result<AwsCredentials> RefreshingProvider::Get() {
  std::unique_lock lock(mu_);
  const int64_t margin = duration_cast<nanoseconds>(kRefreshBefore).count();
  const auto valid = [&](int64_t now, int64_t before_ns) {
    return have_ && (current_.expires_ns == 0 || now < current_.expires_ns - before_ns);
  };
  for (;;) {
    const int64_t now = now_();
    if (valid(now, margin)) return current_;
    // Due for a refresh. Credentials still valid are used meanwhile: by everyone while one
    // caller fetches, and by everyone until the next try after a failed one.
    if (refreshing_ || now < retry_at_ns_) {
      if (valid(now, 0)) return current_;
      if (!refreshing_) {
        return Status::Unavailable(fmt::format("no valid credentials from {}: {}", name_,
                                               last_error_.message()));
      }
      refreshed_cv_.wait(lock, [&] { return !refreshing_; });  // none valid: wait for it
      continue;
    }
    refreshing_ = true;
    lock.unlock();
    Result<AwsCredentials> fresh = fetch_();  // without the lock: a slow endpoint stalls
    lock.lock();                              // only this caller
    refreshing_ = false;
    refreshed_cv_.notify_all();
    if (fresh.ok()) {
      current_ = std::move(fresh).value();
      have_ = true;
      retry_at_ns_ = 0;
      last_error_ = Status::OK();
      return current_;
    }
    last_error_ = fresh.status();
    retry_at_ns_ = now_() + duration_cast<nanoseconds>(kRetryAfterFailure).count();
    SLUICE_LOG_WARN("{}: refreshing credentials failed: {}", name_, last_error_.ToString());
    if (valid(now_(), 0)) return current_;  // still valid: use them
    return Status::Unavailable(
        fmt::format("no valid credentials from {}: {}", name_, last_error_.message()));
  }
}

namespace {

// The instance metadata provider, auto-detected: a machine without a metadata service
// signs nothing, as before this provider existed; one that answered once must keep
// answering (its credentials expire).
class ImdsProvider : public CredentialProvider {
 public:
  ImdsProvider(ImdsSource src, WallClock now)
      : src_(std::move(src)),
        http_(EndpointOptions()),
        clock_(now),
        inner_("instance metadata",
               [this]() -> Result<AwsCredentials> {
                 bool absent = false;
                 Result<AwsCredentials> c = FetchImds(http_, src_, &absent);
                 if (!c.ok() && absent && src_.optional && !answered_) {
                   SLUICE_LOG_INFO("no credentials configured and {} ({}): S3 requests "
                                   "are unsigned",
                                   c.status().message(), src_.endpoint);
                   // Asked again now and then (a blip at start must not leave a machine
                   // that has a role unsigned for good); meanwhile requests go unsigned.
                   AwsCredentials none;
                   none.expires_ns = clock_() + duration_cast<nanoseconds>(kAbsentFor).count();
                   return none;
                 }
                 if (c.ok()) answered_ = true;
                 return c;
               },
               std::move(now)) {}
  Result<AwsCredentials> Get() override { return inner_.Get(); }
  const std::string& Name() const override { return inner_.Name(); }

 private:
  static constexpr std::chrono::minutes kAbsentFor{15};  // asked again 5 min before its end
  const ImdsSource src_;
  CurlClient http_;
  const WallClock clock_;
  bool answered_ = false;  // only touched by the fetch (one at a time)
  RefreshingProvider inner_;
};

}  // namespace

std::shared_ptr<CredentialProvider> ImdsCredentials(ImdsSource source, WallClock now) {
  return std::make_shared<ImdsProvider>(std::move(source), std::move(now));
}

std::shared_ptr<CredentialProvider> ContainerCredentials(ContainerSource source, WallClock now) {
  auto http = std::make_shared<CurlClient>(EndpointOptions());
  return std::make_shared<RefreshingProvider>(
      "container credentials",
      [http, src = std::move(source)] { return FetchContainer(*http, src); }, std::move(now));
}

std::shared_ptr<CredentialProvider> WebIdentityCredentials(WebIdentitySource source,
                                                           WallClock now) {
  if (source.session_name.empty()) source.session_name = fmt::format("sluice-{}", ::getpid());
  auto http = std::make_shared<CurlClient>(EndpointOptions());
  return std::make_shared<RefreshingProvider>(
      "web identity",
      [http, src = std::move(source)] { return FetchWebIdentity(*http, src); }, std::move(now));
}

Result<AwsCredentials> ParseCredentialsJson(std::string_view body, std::string_view source) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::Unavailable(fmt::format("{}: answer is not JSON", source));
  if (auto code = j.value("Code", "Success"); code != "Success") {
    return Status::Unavailable(
        fmt::format("{}: {}: {}", source, code, j.value("Message", std::string())));
  }
  AwsCredentials c;
  c.access_key = j.value("AccessKeyId", "");
  c.secret_key = j.value("SecretAccessKey", "");
  c.session_token = j.value("Token", "");
  if (c.access_key.empty() || c.secret_key.empty()) {
    return Status::Unavailable(fmt::format("{}: no AccessKeyId or SecretAccessKey", source));
  }
  if (std::string exp = j.value("Expiration", ""); !exp.empty()) {
    c.expires_ns = ParseIso8601Ns(exp);
    if (c.expires_ns <= 0) {
      return Status::Unavailable(fmt::format("{}: bad Expiration '{}'", source, exp));
    }
  }
  return c;
}

Result<AwsCredentials> ParseAssumeRoleResponse(std::string_view body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size())) {
    return Status::Unavailable("STS: answer is not XML");
  }
  pugi::xml_node creds = doc.child("AssumeRoleWithWebIdentityResponse")
                             .child("AssumeRoleWithWebIdentityResult")
                             .child("Credentials");
  AwsCredentials c;
  c.access_key = creds.child_value("AccessKeyId");
  c.secret_key = creds.child_value("SecretAccessKey");
  c.session_token = creds.child_value("SessionToken");
  if (c.access_key.empty() || c.secret_key.empty()) {
    return Status::Unavailable("STS: no credentials in the AssumeRoleWithWebIdentity answer");
  }
  if (std::string exp = creds.child_value("Expiration"); !exp.empty()) {
    c.expires_ns = ParseIso8601Ns(exp);
    if (c.expires_ns <= 0) return Status::Unavailable(fmt::format("STS: bad Expiration '{}'", exp));
  }
  return c;
}

}  // namespace sluice::ufs
