#include "ufs/s3_config.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "ufs/curl_client.h"
#include "ufs/under_store.h"

namespace sluice::ufs {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string FirstOf(std::initializer_list<std::optional<std::string>> candidates) {
  for (const auto& c : candidates) {
    if (c.has_value() && !c->empty()) return *c;
  }
  return "";
}

std::optional<std::string> NonEmpty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

}  // namespace

std::optional<std::string> ProcessEnv(const char* name) {
  const char* v = getenv(name);  // NOLINT(concurrency-mt-unsafe): read-only use
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::string S3Config::BucketUrl() const {
  if (addressing == "virtual") {
    size_t scheme_end = endpoint.find("://");
    return fmt::format("{}://{}.{}/", endpoint.substr(0, scheme_end), bucket,
                       endpoint.substr(scheme_end + 3));
  }
  return fmt::format("{}/{}/", endpoint, bucket);
}

std::string S3Config::ObjectUrl(std::string_view full_key) const {
  return BucketUrl() + UriEncode(full_key, /*keep_slash=*/true);
}

Result<AwsCredentials> ReadSharedCredentials(const std::string& path, const std::string& profile) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(fmt::format("no shared credentials file '{}'", path));
  AwsCredentials creds;
  bool in_profile = false, found = false;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view l = Trim(line);
    if (l.empty() || l.front() == '#' || l.front() == ';') continue;
    if (l.front() == '[' && l.back() == ']') {
      in_profile = Trim(l.substr(1, l.size() - 2)) == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = Trim(l.substr(0, eq));
    std::string v(Trim(l.substr(eq + 1)));
    if (k == "aws_access_key_id") creds.access_key = v;
    if (k == "aws_secret_access_key") creds.secret_key = v;
    if (k == "aws_session_token") creds.session_token = v;
  }
  if (!found) return Status::NotFound(fmt::format("no profile [{}] in '{}'", profile, path));
  return creds;
}

namespace {

// The credentials part of ResolveS3Config (see the header for the order). No I/O beyond
// reading the shared credentials file: the sources that expire are fetched when used.
Status ResolveCredentials(const S3Options& options, const EnvGetter& env, bool custom_endpoint,
                          S3Config* c) {
  if (!options.access_key.empty()) {
    c->access_key = options.access_key;
    c->secret_key = options.secret_key;
    c->session_token = options.session_token;
    return Status::OK();
  }
  if (auto id = env("AWS_ACCESS_KEY_ID"); id.has_value() && !id->empty()) {
    c->access_key = *id;
    c->secret_key = env("AWS_SECRET_ACCESS_KEY").value_or("");
    c->session_token = env("AWS_SESSION_TOKEN").value_or("");
    if (c->secret_key.empty()) {
      return Status::InvalidArgument("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    }
    return Status::OK();
  }
  if (std::string token_file = FirstOf({env("AWS_WEB_IDENTITY_TOKEN_FILE")});
      !token_file.empty()) {
    WebIdentitySource src;
    src.token_file = token_file;
    src.role_arn = FirstOf({env("AWS_ROLE_ARN")});
    if (src.role_arn.empty()) {
      return Status::InvalidArgument("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
    }
    src.session_name = FirstOf({env("AWS_ROLE_SESSION_NAME")});
    src.sts_endpoint = FirstOf({env("AWS_ENDPOINT_URL_STS")});
    if (src.sts_endpoint.empty()) src.sts_endpoint = fmt::format("https://sts.{}.amazonaws.com", c->region);
    while (src.sts_endpoint.ends_with('/')) src.sts_endpoint.pop_back();
    c->credentials = WebIdentityCredentials(std::move(src));
    return Status::OK();
  }
  std::string path = FirstOf({env("AWS_SHARED_CREDENTIALS_FILE")});
  if (path.empty()) {
    std::string home = FirstOf({env("HOME")});
    if (!home.empty()) path = home + "/.aws/credentials";
  }
  std::string profile = FirstOf({env("AWS_PROFILE")});
  if (profile.empty()) profile = "default";
  if (!path.empty()) {
    Result<AwsCredentials> creds = ReadSharedCredentials(path, profile);
    if (creds.ok()) {
      c->access_key = creds->access_key;
      c->secret_key = creds->secret_key;
      c->session_token = creds->session_token;
      return Status::OK();
    }
    if (env("AWS_PROFILE").has_value()) return creds.status();  // asked for by name: must exist
  }
  std::string full = FirstOf({env("AWS_CONTAINER_CREDENTIALS_FULL_URI")});
  std::string relative = FirstOf({env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")});
  if (!full.empty() || !relative.empty()) {
    ContainerSource src;
    src.url = !full.empty() ? full : "http://169.254.170.2" + relative;
    src.auth_token = FirstOf({env("AWS_CONTAINER_AUTHORIZATION_TOKEN")});
    src.auth_token_file = FirstOf({env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")});
    c->credentials = ContainerCredentials(std::move(src));
    return Status::OK();
  }
  std::string disabled = FirstOf({env("AWS_EC2_METADATA_DISABLED")});
  std::transform(disabled.begin(), disabled.end(), disabled.begin(), ::tolower);
  std::string imds = FirstOf({env("AWS_EC2_METADATA_SERVICE_ENDPOINT")});
  // A custom endpoint (MinIO, s3rver, a VPC endpoint) asks the metadata service only when
  // told where it is: probing 169.254.169.254 costs seconds where there is none.
  if (disabled != "true" && (!custom_endpoint || !imds.empty())) {
    ImdsSource src;
    if (!imds.empty()) src.endpoint = imds;
    while (src.endpoint.ends_with('/')) src.endpoint.pop_back();
    src.optional = imds.empty();  // told where it is: it must answer
    c->credentials = ImdsCredentials(std::move(src));
  }
  return Status::OK();  // nothing: unsigned requests
}

}  // namespace

Result<S3Config> ResolveS3Config(std::string_view uri, const S3Options& options,
                                 const EnvGetter& env) {
  return ResolveS3Config(uri, options, env, BucketRule::kRequired);
}

Result<S3Config> ResolveS3Config(std::string_view uri, const S3Options& options,
                                 const EnvGetter& env, BucketRule bucket_rule) {
  SLUICE_RETURN_IF_ERROR(options.Validate());
  if (!uri.starts_with("s3://")) {
    return Status::InvalidArgument(fmt::format("'{}': not an s3:// URI", uri));
  }
  std::string_view rest = uri.substr(5);
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  S3Config c;
  if (bucket_rule == BucketRule::kNone) {
    if (!rest.empty()) {
      return Status::InvalidArgument(fmt::format("'{}': a store root names no bucket", uri));
    }
    c.uri = "s3://";
  } else {
    size_t slash = rest.find('/');
    c.bucket = std::string(rest.substr(0, slash));
    if (c.bucket.empty()) return Status::InvalidArgument(fmt::format("'{}': no bucket", uri));
    if (slash != std::string_view::npos) {
      SLUICE_ASSIGN_OR_RETURN(c.prefix, NormalizeKey(rest.substr(slash + 1)));
      if (!c.prefix.empty() && c.prefix.back() != '/') c.prefix += '/';
    }
    c.uri = "s3://" + c.bucket;
    if (!c.prefix.empty()) c.uri += "/" + c.prefix.substr(0, c.prefix.size() - 1);
  }

  std::optional<std::string> q_endpoint, q_region, q_addressing;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string k(kv.substr(0, eq));
    std::string v = eq == std::string_view::npos ? "" : UriDecode(kv.substr(eq + 1));
    if (k == "endpoint") {
      q_endpoint = v;
    } else if (k == "region") {
      q_region = v;
    } else if (k == "addressing") {
      q_addressing = v;
    } else {
      return Status::InvalidArgument(
          fmt::format("'{}': unknown query parameter '{}' (endpoint, region, addressing)", uri, k));
    }
  }

  c.region =
      FirstOf({NonEmpty(options.region), q_region, env("AWS_REGION"), env("AWS_DEFAULT_REGION")});
  if (c.region.empty()) c.region = "us-east-1";
  c.endpoint = FirstOf({NonEmpty(options.endpoint), q_endpoint, env("AWS_ENDPOINT_URL_S3"),
                        env("AWS_ENDPOINT_URL")});
  bool custom_endpoint = !c.endpoint.empty();
  if (!custom_endpoint) c.endpoint = fmt::format("https://s3.{}.amazonaws.com", c.region);
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  if (!c.endpoint.starts_with("http://") && !c.endpoint.starts_with("https://")) {
    return Status::InvalidArgument(
        fmt::format("'{}': endpoint '{}' must start with http:// or https://", uri, c.endpoint));
  }
  c.addressing = FirstOf({NonEmpty(options.addressing), q_addressing});
  // A bucket name with dots as a host name ("my.bucket.s3.REGION.amazonaws.com") does not
  // match the store's wildcard certificate: such buckets are addressed by path, as the AWS
  // SDKs do.
  if (c.addressing.empty()) {
    c.addressing =
        custom_endpoint || c.bucket.find('.') != std::string::npos ? "path" : "virtual";
  }
  if (c.addressing != "path" && c.addressing != "virtual") {
    return Status::InvalidArgument(
        fmt::format("'{}': addressing must be 'path' or 'virtual', not '{}'", uri, c.addressing));
  }

  SLUICE_RETURN_IF_ERROR(ResolveCredentials(options, env, custom_endpoint, &c));
  c.ca_bundle = FirstOf({env("AWS_CA_BUNDLE")});
  return c;
}

}  // namespace sluice::ufs
