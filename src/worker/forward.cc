#include "worker/forward.h"

#include <curl/curl.h>
#include <strings.h>

#include <string>
#include <vector>

#include <fmt/format.h>

namespace sluice::worker {
namespace {

// One easy handle per handler thread: it keeps its connections to the owners alive.
struct ThreadHandle {
  CURL* curl = curl_easy_init();
  ~ThreadHandle() { curl_easy_cleanup(curl); }
};

bool IsHopByHop(std::string_view name) {
  static constexpr std::string_view kSkip[] = {"connection", "keep-alive", "transfer-encoding",
                                               "te",         "trailer",    "upgrade",
                                               "expect",     "proxy-connection"};
  for (auto s : kSkip) {
    if (name.size() == s.size() && strncasecmp(name.data(), s.data(), s.size()) == 0) return true;
  }
  return false;
}

struct Exchange {
  net::BodyReader* body = nullptr;
  net::ResponseWriter* out = nullptr;
  bool head = false;
  long status = 0;  // NOLINT(runtime/int): curl's type
  std::vector<std::pair<std::string, std::string>> headers;
  bool started = false;  // status and headers handed to `out`
  bool read_body = false;
  Status write_error;

  void StartResponse() {
    if (started) return;
    started = true;
    out->SetStatus(static_cast<int>(status));
    for (const auto& [k, v] : headers) out->SetHeader(k, v);
  }
};

size_t OnHeader(char* data, size_t size, size_t n, void* arg) {
  auto* x = static_cast<Exchange*>(arg);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {  // a new response head (after a 100 Continue, too)
    x->headers.clear();
    size_t sp = line.find(' ');
    x->status = sp == std::string_view::npos ? 0 : std::atol(std::string(line.substr(sp + 1)).c_str());
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (!IsHopByHop(name)) x->headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

size_t OnData(char* data, size_t size, size_t n, void* arg) {
  auto* x = static_cast<Exchange*>(arg);
  x->StartResponse();
  if (Status s = x->out->Write(std::string_view(data, size * n)); !s.ok()) {
    x->write_error = s;
    return 0;  // aborts the transfer
  }
  return size * n;
}

size_t OnRead(char* data, size_t size, size_t n, void* arg) {
  auto* x = static_cast<Exchange*>(arg);
  x->read_body = true;
  auto got = x->body->Read(std::span<char>(data, size * n));
  if (!got.ok()) return CURL_READFUNC_ABORT;
  return *got;
}

}  // namespace

Status Forward(const net::HttpRequest& req, net::BodyReader& body, net::ResponseWriter& out,
               std::string_view endpoint, const ForwardOptions& options, bool* unreachable,
               bool* silent) {
  *unreachable = false;
  thread_local ThreadHandle handle;
  CURL* c = handle.curl;
  if (c == nullptr) return Status::Internal("curl_easy_init failed");
  curl_easy_reset(c);
  std::string url = fmt::format("{}{}", endpoint, req.target);
  Exchange x;
  x.body = &body;
  x.out = &out;
  x.head = req.method == "HEAD";

  curl_slist* headers = nullptr;
  for (const auto& [k, v] : req.headers) {
    if (IsHopByHop(k) || strcasecmp(k.c_str(), "content-length") == 0) continue;
    headers = curl_slist_append(headers, fmt::format("{}: {}", k, v).c_str());
  }
  headers = curl_slist_append(headers, fmt::format("{}: 1", kHopHeader).c_str());
  if (!options.ring_fingerprint.empty()) {
    headers = curl_slist_append(
        headers, fmt::format("{}: {}", kRingHeader, options.ring_fingerprint).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");
  const bool has_body = req.content_length.value_or(0) > 0 || req.HasHeader("Transfer-Encoding");

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_HTTP_TRANSFER_DECODING, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(  // NOLINT(runtime/int)
                       std::chrono::duration_cast<std::chrono::milliseconds>(options.connect_timeout)
                           .count()));
  // A stall limit (under 1 byte/s for stall_timeout), not a limit on the whole exchange.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(std::max<int64_t>(  // NOLINT(runtime/int)
                       1, std::chrono::duration_cast<std::chrono::seconds>(options.stall_timeout)
                              .count())));
  if (x.head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (has_body) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(c, CURLOPT_READDATA, &x);
    if (req.content_length) {
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                       static_cast<curl_off_t>(*req.content_length));
    }
  } else if (req.method == "PUT" || req.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);

  if (rc == CURLE_OK) {
    x.StartResponse();  // a response without a body (HEAD, 204, 304)
    return out.Finish();
  }
  // A request that may have reached the owner is served here again only when that is
  // harmless (GET, HEAD): a POST ?uploads served twice leaves an upload behind.
  long sent = 0;  // NOLINT(runtime/int)
  curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent);
  const bool may_repeat = sent == 0 || req.method == "GET" || req.method == "HEAD";
  const bool nothing_back =
      !x.started && x.status == 0 &&
      (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
       rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
       rc == CURLE_GOT_NOTHING);
  if (silent != nullptr) *silent = nothing_back;
  if (nothing_back && !x.read_body && may_repeat) {
    *unreachable = true;
    return Status::Unavailable(
        fmt::format("owner {} unreachable: {}", endpoint, curl_easy_strerror(rc)));
  }
  if (!x.write_error.ok()) return x.write_error;  // the client went away
  Status s = Status::Unavailable(
      fmt::format("forwarding to {} failed: {}", endpoint, curl_easy_strerror(rc)));
  if (!out.HeadersSent()) {
    // Nothing reached the client yet; answer 502 unless a status was started (mid-body).
    if (!x.started) (void)out.Send(502, "text/plain", s.message() + "\n");
  }
  return s;
}

}  // namespace sluice::worker
