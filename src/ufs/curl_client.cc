#include "ufs/curl_client.h"

#include <limits>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>

namespace sluice::ufs {
namespace {

std::once_flag g_curl_init_once;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

struct HeaderSink {
  std::map<std::string, std::string>* headers;
  int status = 0;
  // A 206 for an empty object ("Content-Range: bytes 0-0/0") that announces a byte it
  // never sends (s3rver does this): the transfer is cut short and the body is empty.
  bool empty_partial = false;
};

// Where a response body goes: the caller's sink for a 2xx when it gave one, else a string.
struct BodySink {
  std::string* body;
  std::span<char> sink;
  size_t* sink_bytes;
  const HeaderSink* head;
  uint64_t expected;  // HttpRequest::expected_body_size
  bool overflow = false;
};

// Before the first byte of a body goes to `body`: room for all of it, as the response's
// Content-Length says (else `expected`), capped by `expected` when it is set.
void ReserveBody(const BodySink& b) {
  constexpr uint64_t kMaxReserve = 64 * kMiB;
  uint64_t want = b.expected;
  if (auto cl = b.head->headers->find("content-length"); cl != b.head->headers->end()) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(cl->second.data(), cl->second.data() + cl->second.size(), n);
    if (ec == std::errc() && end == cl->second.data() + cl->second.size()) {
      want = b.expected > 0 ? std::min(n, b.expected) : n;
    }
  }
  b.body->reserve(std::min(want, kMaxReserve));
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* b = static_cast<BodySink*>(user);
  size_t len = size * n;
  const bool ok = b->head->status >= 200 && b->head->status < 300;
  if (b->sink.empty() || !ok) {
    if (ok && b->body->empty()) ReserveBody(*b);
    b->body->append(data, len);
    return len;
  }
  if (*b->sink_bytes + len > b->sink.size()) {
    b->overflow = true;
    return 0;
  }
  std::memcpy(b->sink.data() + *b->sink_bytes, data, len);
  *b->sink_bytes += len;
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<HeaderSink*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    sink->headers->clear();  // a new response (after a 100 Continue or a redirect)
    size_t sp = line.find(' ');
    sink->status =
        sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    (*sink->headers)[Lower(Trim(line.substr(0, colon)))] =
        std::string(Trim(line.substr(colon + 1)));
  } else if (Trim(line).empty() && sink->status == 206) {  // end of a 206's headers
    auto range = sink->headers->find("content-range");
    if (range != sink->headers->end() && range->second.ends_with("/0")) {
      sink->empty_partial = true;
      return 0;  // stop: there is no body to wait for
    }
  }
  return size * n;
}

struct UploadSource {
  std::string_view data;
  size_t pos = 0;
};

size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* src = static_cast<UploadSource*>(user);
  size_t len = std::min(size * n, src->data.size() - src->pos);
  std::memcpy(buf, src->data.data() + src->pos, len);
  src->pos += len;
  return len;
}

void LockShare(CURL*, curl_lock_data data, curl_lock_access, void* user) {
  static_cast<std::mutex*>(user)[data].lock();
}
void UnlockShare(CURL*, curl_lock_data data, void* user) {
  static_cast<std::mutex*>(user)[data].unlock();
}

bool IsRetryableCurlCode(CURLcode code) {
  switch (code) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_ABORTED_BY_CALLBACK:
      return false;
    default:
      return true;
  }
}

}  // namespace

std::string HttpResponse::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

CurlClient::CurlClient(CurlClientOptions options) : options_(std::move(options)) {
  std::call_once(g_curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  share_ = curl_share_init();
  if (share_ != nullptr) {
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, LockShare);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, UnlockShare);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, share_mu_);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
}

CurlClient::~CurlClient() {
  for (CURL* h : pool_) curl_easy_cleanup(h);
  if (share_ != nullptr) curl_share_cleanup(share_);
}

size_t CurlClient::PooledHandles() const {
  std::lock_guard lock(pool_mu_);
  return pool_.size();
}

CURL* CurlClient::Acquire() {
  {
    std::lock_guard lock(pool_mu_);
    if (!pool_.empty()) {
      CURL* h = pool_.back();
      pool_.pop_back();
      curl_easy_reset(h);  // keeps the handle's live connections and caches
      return h;
    }
  }
  return curl_easy_init();
}

void CurlClient::Release(CURL* handle) {
  {
    std::lock_guard lock(pool_mu_);
    if (static_cast<int>(pool_.size()) < options_.max_pooled_handles) {
      pool_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(handle);
}

bool CurlClient::IsRetryableStatus(long status) {  // NOLINT(runtime/int)
  // 501 Not Implemented is an answer, not a hiccup: asking again gets it again.
  return (status >= 500 && status != 501) || status == 429;
}

Duration CurlClient::BackoffDelay(int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  double base = static_cast<double>(options_.retry_base_delay.count());
  double cap = static_cast<double>(options_.retry_max_delay.count());
  double d = std::min(cap, base * static_cast<double>(1ull << std::min(attempt, 30)));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return Duration(static_cast<int64_t>(d * jitter(rng)));
}

Result<HttpResponse> CurlClient::PerformOnce(const HttpRequest& req) {
  CURL* h = Acquire();
  if (h == nullptr) return Status::Internal("curl_easy_init failed");
  HttpResponse resp;
  UploadSource upload{req.body, 0};
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* headers = nullptr;
  for (const std::string& hdr : req.headers) headers = curl_slist_append(headers, hdr.c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip

  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(
      h, CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(  // NOLINT(runtime/int)
          std::chrono::duration_cast<std::chrono::milliseconds>(options_.connect_timeout).count()));
  curl_easy_setopt(
      h, CURLOPT_TIMEOUT_MS,
      static_cast<long>(  // NOLINT(runtime/int)
          std::chrono::duration_cast<std::chrono::milliseconds>(options_.request_timeout).count()));
  if (share_ != nullptr) curl_easy_setopt(h, CURLOPT_SHARE, share_);
  if (!options_.ca_bundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_bundle.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  HeaderSink header_sink{&resp.headers};
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &header_sink);
  BodySink body_sink{&resp.body, req.sink, &resp.sink_bytes, &header_sink,
                     req.expected_body_size};
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body_sink);
  // Fewer, larger reads: each read that finds the socket empty costs a poll and a wake-up
  // (a 128 KiB body took 9 reads and 14 polls with curl's 16 KiB default).
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE,
                   static_cast<long>(std::clamp<uint64_t>(  // NOLINT(runtime/int)
                       std::max<uint64_t>(req.expected_body_size, req.sink.size()), 16 * kKiB,
                       512 * kKiB)));
  if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &upload);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else if (req.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data() ? req.body.data() : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else if (req.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  std::string user, password;
  if (!req.aws_sigv4.empty()) {
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, req.aws_sigv4.c_str());
    size_t colon = req.userpwd.find(':');
    user = req.userpwd.substr(0, colon);
    password = colon == std::string::npos ? "" : req.userpwd.substr(colon + 1);
    curl_easy_setopt(h, CURLOPT_USERNAME, user.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, password.c_str());
  }

  CURLcode rc = curl_easy_perform(h);
  long status = 0;  // NOLINT(runtime/int)
  if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_WRITE_ERROR && header_sink.empty_partial) {
    rc = CURLE_OK;
    status = 206;
    resp.body.clear();
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(headers);
  Release(h);

  if (body_sink.overflow) {
    return Status::Internal(fmt::format("{} {}: the body is longer than the {} bytes expected",
                                        req.method, req.url, req.sink.size()));
  }
  if (rc != CURLE_OK) {
    std::string msg = fmt::format("{} {}: {}{}{}", req.method, req.url, curl_easy_strerror(rc),
                                  errbuf[0] ? ": " : "", errbuf);
    if (rc == CURLE_OPERATION_TIMEDOUT) return Status::DeadlineExceeded(std::move(msg));
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
      return Status::InvalidArgument(std::move(msg));
    }
    if (!IsRetryableCurlCode(rc)) return Status::Internal(std::move(msg));
    return Status::Unavailable(std::move(msg));
  }
  resp.status = status;
  return resp;
}

Result<HttpResponse> CurlClient::Perform(const HttpRequest& request) {
  for (int attempt = 0;; ++attempt) {
    Result<HttpResponse> r = [&]() -> Result<HttpResponse> {
      if (!options_.prepare) return PerformOnce(request);
      HttpRequest prepared = request;
      SLUICE_RETURN_IF_ERROR(options_.prepare(&prepared));
      return PerformOnce(prepared);
    }();
    bool retry = r.ok() ? IsRetryableStatus(r->status) ||
                              (options_.also_retry && options_.also_retry(*r))
                        : r.status().IsRetryable();
    if (!retry || attempt >= options_.max_retries) return r;
    retries_.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(BackoffDelay(attempt));
  }
}

Status HttpError(long status, std::string_view context,  // NOLINT(runtime/int)
                 std::string_view detail) {
  std::string msg =
      fmt::format("{}: HTTP {}{}{}", context, status, detail.empty() ? "" : ": ", detail);
  switch (status) {
    case 400:
      return Status::InvalidArgument(std::move(msg));
    case 401:
    case 403:
      return Status::PermissionDenied(std::move(msg));
    case 404:
      return Status::NotFound(std::move(msg));
    case 408:
      return Status::DeadlineExceeded(std::move(msg));
    case 409:
    case 412:
      return Status::FailedPrecondition(std::move(msg));
    case 416:
      return Status::OutOfRange(std::move(msg));
    case 429:
      return Status::Unavailable(std::move(msg));
    case 501:
      return Status::Unimplemented(std::move(msg));
    default:
      if (status >= 500) return Status::Unavailable(std::move(msg));
      return Status::Internal(std::move(msg));
  }
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out += c;
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

std::string UriDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string Unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return std::string(s);
}

int64_t ParseHttpDateNs(std::string_view s) {
  time_t t = curl_getdate(std::string(s).c_str(), nullptr);
  return t < 0 ? 0 : static_cast<int64_t>(t) * 1'000'000'000;
}

int64_t ParseIso8601Ns(std::string_view s) {
  std::tm tm{};
  int frac_start = 0;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac_start) != 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t ns = static_cast<int64_t>(timegm(&tm)) * 1'000'000'000;
  if (static_cast<size_t>(frac_start) < str.size() && str[frac_start] == '.') {
    int64_t scale = 100'000'000;
    for (size_t i = frac_start + 1; i < str.size() && std::isdigit(str[i]) && scale > 0; ++i) {
      ns += (str[i] - '0') * scale;
      scale /= 10;
    }
  }
  return ns;
}

void SetRange(HttpRequest* req, uint64_t offset, uint64_t length) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  constexpr uint64_t kMaxReserve = 64 * kMiB;
  uint64_t last = length > kMax - offset ? kMax - 1 : offset + length - 1;
  req->headers.push_back(fmt::format("Range: bytes={}-{}", offset, last));
  req->expected_body_size = std::min(length, kMaxReserve);
}

std::string TrimToRange(std::string body, long status, uint64_t offset,  // NOLINT(runtime/int)
                        uint64_t length) {
  if (status == 200) return offset < body.size() ? body.substr(offset, length) : std::string();
  if (body.size() > length) body.resize(length);
  return body;
}

bool FillInfoFromHeaders(const HttpResponse& response, ObjectInfo* info) {
  std::string range = response.Header("content-range");  // "bytes a-b/total"
  const std::string length = response.Header("content-length");
  size_t slash = range.rfind('/');
  bool sized = true;
  if (slash != std::string::npos && range.compare(slash + 1, 1, "*") != 0) {
    info->size = std::strtoull(range.c_str() + slash + 1, nullptr, 10);
  } else if (response.status != 206 && !length.empty()) {
    info->size = std::strtoull(length.c_str(), nullptr, 10);
  } else {
    info->size = 0;  // a part of unknown total, or no length at all
    sized = false;
  }
  info->etag = Unquote(response.Header("etag"));
  info->mtime_ns = ParseHttpDateNs(response.Header("last-modified"));
  // The stored headers of the object, from a response that carries it: an error's
  // (a 416 for a range past the end) describe the error document.
  if (response.status / 100 != 2) return sized;
  auto stored = std::make_shared<ObjectHeaders>();
  for (const auto& [name, value] : response.headers) {
    if (IsStoredHeader(name)) stored->emplace_back(name, value);
  }
  info->headers = std::move(stored);
  return sized;
}

}  // namespace sluice::ufs
