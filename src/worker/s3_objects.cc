// S3Service: object operations (GET/HEAD/PUT/DELETE, DeleteObjects) and multipart uploads.
#include <fmt/format.h>

#include "common/digest.h"
#include "net/s3_http.h"
#include "net/s3_xml.h"
#include "worker/s3_call.h"
#include "worker/s3_service.h"

namespace sluice::worker {
namespace {

constexpr std::string_view kXml = "application/xml";

std::string Quoted(std::string_view etag) { return fmt::format("\"{}\"", etag); }

// Decodes a base64 string (Content-MD5); "" on malformed input.
std::string Base64Decode(std::string_view in) {
  static const std::string kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char ch : in) {
    if (ch == '=') break;
    size_t v = kChars.find(ch);
    if (v == std::string::npos) return "";
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace

void S3Service::GetObject(Call& c, bool head) {
  c.op = head ? "HeadObject" : "GetObject";
  const std::string path = c.Path();
  // Where the body will start, before the size is known: a cold object is then opened
  // with one under-store request that returns its stat and those first bytes.
  uint64_t hint = 0;
  if (auto range = c.req.Header("Range");
      range.starts_with("bytes=") && range.size() > 6 &&
      std::isdigit(static_cast<unsigned char>(range[6]))) {
    hint = std::strtoull(std::string(range.substr(6)).c_str(), nullptr, 10);
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto info = head ? cache_->Stat(path) : cache_->StatForRead(path, hint, options_.read_chunk);
    // A cold open of a "directory" key fails as such; a plain stat tells what it is.
    if (!info.ok() && info.status().Is(StatusCode::kInvalidArgument)) info = cache_->Stat(path);
    if (!info.ok()) return SendStatusError(c, info.status());
    if (info->is_dir) {
      return SendError(c, net::S3Error::Of(404, "NoSuchKey", "The specified key does not exist."));
    }
    const std::string etag = S3ETag(*info);
    c.out.SetHeader("ETag", Quoted(etag));
    c.out.SetHeader("Last-Modified", net::HttpDate(info->mtime_ns));
    c.out.SetHeader("Accept-Ranges", "bytes");
    switch (net::EvaluatePreconditions(c.req, etag, info->mtime_ns)) {
      case net::Precondition::kNotModified:
        c.status = 304;
        c.out.SetStatus(304);
        (void)c.out.Finish();
        return;
      case net::Precondition::kFailed:
        return SendError(c, net::S3Error::Of(412, "PreconditionFailed",
                                             "At least one of the preconditions failed."));
      case net::Precondition::kProceed:
        break;
    }
    auto range = net::ParseRange(c.req.Header("Range"), info->size);
    if (!range.ok()) {
      c.out.SetHeader("Content-Range", fmt::format("bytes */{}", info->size));
      return SendError(c, net::S3Error::Of(416, "InvalidRange",
                                           "The requested range is not satisfiable"));
    }
    uint64_t first = 0, length = info->size;
    int status = 200;
    if (range->has_value()) {
      first = (*range)->first;
      length = (*range)->length();
      status = 206;
      c.out.SetHeader("Content-Range",
                      fmt::format("bytes {}-{}/{}", first, (*range)->last, info->size));
    }
    c.out.SetHeader("Content-Type", "binary/octet-stream");
    c.out.SetHeader("Content-Length", std::to_string(length));
    c.out.SetStatus(status);
    c.status = status;
    if (head || length == 0) {
      (void)c.out.Finish();
      return;
    }
    const size_t buf_size = static_cast<size_t>(std::min<uint64_t>(length, options_.read_chunk));
    // One buffer per handler thread, reused: a fresh 1 MiB allocation per GET costs page
    // faults (and the kernel zeroing them) on every request.
    thread_local std::unique_ptr<char[]> tl_buf;
    thread_local size_t tl_size = 0;
    if (tl_size < buf_size) {
      tl_buf.reset(new char[options_.read_chunk]);
      tl_size = options_.read_chunk;
    }
    char* const buf = tl_buf.get();
    uint64_t done = 0;
    const std::string version = info->Version();
    while (done < length) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(buf_size, length - done));
      auto n = cache_->Read(path, first + done, std::span<char>(buf, want), version);
      if (!n.ok() || *n == 0) {
        Status s = n.ok() ? Status::DataLoss("object shorter than its stat") : n.status();
        if (!c.out.HeadersSent() && s.Is(StatusCode::kFailedPrecondition)) {
          // Changed between stat and read, nothing sent yet: serve the new version (once).
          if (attempt == 0) break;
          return SendError(c, net::S3Error::Of(503, "SlowDown", "the object keeps changing"));
        }
        return SendStatusError(c, s);  // mid-body: the server closes the connection
      }
      if (!c.out.Write(std::string_view(buf, *n)).ok()) return;  // client gone
      done += *n;
    }
    if (done == length) {
      (void)c.out.Finish();
      return;
    }
  }
  SendError(c, net::S3Error::Of(503, "SlowDown", "the object keeps changing; retry"));
}

bool S3Service::TryInline(const net::HttpRequest& req, net::ResponseWriter& out) {
  if (req.method != "GET" && req.method != "HEAD") return false;
  auto path = net::UrlDecode(req.path);
  if (!path || path->size() < 2 || (*path)[0] != '/' || (*path)[1] == '/') return false;
  size_t slash = path->find('/', 1);
  if (slash == std::string::npos || slash + 1 == path->size()) return false;  // not an object
  if (!req.query.empty()) {
    // Only presigned-URL parameters: any sub-resource goes the normal way.
    for (const auto& [k, v] : net::ParseQuery(req.query)) {
      if (!k.starts_with("X-Amz-") && !k.starts_with("x-amz-")) return false;
    }
  }
  if (verifier_) {
    auto auth = verifier_->Verify(req);
    if (!std::holds_alternative<net::AuthResult>(auth)) return false;
  }
  auto info = cache_->CachedStat(*path);
  if (!info || info->is_dir) return false;
  const std::string etag = S3ETag(*info);
  if (net::EvaluatePreconditions(req, etag, info->mtime_ns) != net::Precondition::kProceed) {
    return false;
  }
  auto range = net::ParseRange(req.Header("Range"), info->size);
  if (!range.ok()) return false;
  uint64_t first = 0, length = info->size;
  if (range->has_value()) {
    first = (*range)->first;
    length = (*range)->length();
  }
  if (length > options_.max_inline_bytes) return false;
  std::unique_ptr<char[]> body;  // not zero-filled: every byte is copied in below
  if (req.method == "GET") {
    body.reset(new char[length]);
    auto n = cache_->ReadIfInMemory(*path, *info, first, std::span<char>(body.get(), length));
    if (!n || *n != length) return false;
  }
  out.SetHeader("x-amz-request-id", fmt::format("{:016X}", ++request_ids_));
  out.SetHeader("ETag", Quoted(etag));
  out.SetHeader("Last-Modified", net::HttpDate(info->mtime_ns));
  out.SetHeader("Accept-Ranges", "bytes");
  int status = 200;
  if (range->has_value()) {
    status = 206;
    out.SetHeader("Content-Range",
                  fmt::format("bytes {}-{}/{}", first, (*range)->last, info->size));
  }
  const char* op = req.method == "GET" ? "GetObject" : "HeadObject";
  if (req.method == "HEAD") {
    out.SetHeader("Content-Type", "binary/octet-stream");
    out.SetHeader("Content-Length", std::to_string(length));
    out.SetStatus(status);
    (void)out.Finish();
  } else {
    (void)out.Send(status, "binary/octet-stream", std::string_view(body.get(), length));
  }
  if (registry_ != nullptr) {
    inline_requests_->Inc();
    CounterFor(op, status)->Inc();
  }
  return true;
}

void S3Service::PutObject(Call& c) {
  c.op = "PutObject";
  if (c.req.HasHeader("x-amz-copy-source")) {
    return SendError(c, net::S3Error::Of(501, "NotImplemented", "CopyObject is not supported"));
  }
  auto up = writes_->Begin(c.Path(), c.req.content_length.value_or(0));
  if (!up.ok()) return SendStatusError(c, up.status());
  Md5 md5;
  std::string buf(1 << 20, '\0');
  for (;;) {
    auto n = c.body->Read(std::span<char>(buf.data(), buf.size()));
    if (!n.ok()) {
      (*up)->Abort();
      return SendStatusError(c, n.status());
    }
    if (*n == 0) break;
    std::string_view chunk(buf.data(), *n);
    md5.Update(chunk);
    if (Status s = (*up)->Append(chunk); !s.ok()) {
      (*up)->Abort();
      return SendStatusError(c, s);
    }
  }
  if (auto want = c.req.Header("Content-MD5"); !want.empty()) {
    if (Base64Decode(want) != md5.Digest()) {
      (*up)->Abort();
      return SendError(c, net::S3Error::Of(400, "BadDigest",
                                           "The Content-MD5 you specified did not match"));
    }
  }
  auto info = (*up)->Commit();
  InvalidateListings(c.bucket);
  if (!info.ok()) return SendStatusError(c, info.status());
  c.status = 200;
  c.out.SetHeader("ETag", Quoted(S3ETag(*info)));
  (void)c.out.Send(200, "text/plain", "");
}

void S3Service::DeleteObject(Call& c) {
  c.op = "DeleteObject";
  Status s = writes_->Delete(c.Path());
  InvalidateListings(c.bucket);
  if (!s.ok() && !s.Is(StatusCode::kNotFound)) return SendStatusError(c, s);
  c.status = 204;
  c.out.SetStatus(204);
  (void)c.out.Finish();
}

void S3Service::DeleteObjects(Call& c) {
  c.op = "DeleteObjects";
  auto xml = c.body->ReadAll(options_.max_xml_body);
  if (!xml.ok()) return SendStatusError(c, xml.status());
  auto req = net::ParseDeleteObjects(*xml);
  if (!req.ok()) return SendStatusError(c, req.status());
  std::vector<std::string> deleted;
  std::vector<net::DeleteError> errors;
  for (const auto& key : req->keys) {
    Status s = writes_->Delete("/" + c.bucket + "/" + key);
    if (s.ok() || s.Is(StatusCode::kNotFound)) {
      deleted.push_back(key);
    } else {
      net::S3Error e = net::S3ErrorFromStatus(s);
      errors.push_back({key, e.code, s.message()});
    }
  }
  InvalidateListings(c.bucket);
  c.status = 200;
  (void)c.out.Send(200, kXml, net::RenderDeleteResult(deleted, errors, req->quiet));
}

void S3Service::CreateMultipart(Call& c) {
  c.op = "CreateMultipartUpload";
  auto r = mounts_->Resolve(c.Path());
  if (!r.ok()) return SendStatusError(c, r.status());
  auto id = uploads_->Create(c.Path());
  if (!id.ok()) return SendStatusError(c, id.status());
  c.status = 200;
  (void)c.out.Send(200, kXml, net::RenderInitiateMultipartUpload(c.bucket, c.key, *id));
}

void S3Service::UploadPart(Call& c) {
  c.op = "UploadPart";
  int number = 0;
  try {
    number = std::stoi(c.Get("partNumber"));
  } catch (const std::exception&) {
    return SendError(c, net::S3Error::Of(400, "InvalidArgument", "partNumber must be a number"));
  }
  auto etag =
      uploads_->UploadPart(c.Get("uploadId"), c.Path(), number, *c.body, options_.max_part_bytes);
  if (!etag.ok()) return SendStatusError(c, etag.status());
  c.status = 200;
  c.out.SetHeader("ETag", Quoted(*etag));
  (void)c.out.Send(200, "text/plain", "");
}

void S3Service::CompleteMultipart(Call& c) {
  c.op = "CompleteMultipartUpload";
  auto xml = c.body->ReadAll(options_.max_xml_body);
  if (!xml.ok()) return SendStatusError(c, xml.status());
  auto parts = net::ParseCompleteMultipartUpload(*xml);
  if (!parts.ok()) return SendStatusError(c, parts.status());
  std::vector<std::pair<int, std::string>> list;
  for (const auto& p : *parts) list.emplace_back(p.part_number, p.etag);
  auto info = uploads_->Complete(c.Get("uploadId"), c.Path(), list);
  InvalidateListings(c.bucket);
  if (!info.ok()) return SendStatusError(c, info.status());
  c.status = 200;
  (void)c.out.Send(200, kXml,
                   net::RenderCompleteMultipartUpload(c.Path(), c.bucket, c.key, S3ETag(*info)));
}

void S3Service::AbortMultipart(Call& c) {
  c.op = "AbortMultipartUpload";
  Status s = uploads_->Abort(c.Get("uploadId"), c.Path());
  if (!s.ok()) return SendStatusError(c, s);
  c.status = 204;
  c.out.SetStatus(204);
  (void)c.out.Finish();
}

void S3Service::ListParts(Call& c) {
  c.op = "ListParts";
  auto parts = uploads_->ListParts(c.Get("uploadId"), c.Path());
  if (!parts.ok()) return SendStatusError(c, parts.status());
  std::vector<net::PartEntry> entries;
  for (const auto& p : *parts) entries.push_back({p.number, p.size, p.mtime_ns, p.etag});
  c.status = 200;
  (void)c.out.Send(200, kXml, net::RenderListParts(c.bucket, c.key, c.Get("uploadId"), entries));
}

}  // namespace sluice::worker
