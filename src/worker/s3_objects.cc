// S3Service: object operations (GET/HEAD/PUT/DELETE, DeleteObjects) and multipart uploads.
#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <optional>

#include "common/digest.h"
#include "net/s3_http.h"
#include "net/s3_xml.h"
#include "worker/object_stream.h"
#include "worker/s3_call.h"
#include "worker/s3_service.h"

namespace sluice::worker {
namespace {

constexpr std::string_view kXml = "application/xml";

std::string Quoted(std::string_view etag) { return fmt::format("\"{}\"", etag); }

// The part of an object a GET answers: the whole of it, or one range (206).
struct BodyPart {
  uint64_t first = 0;
  uint64_t length = 0;
  bool partial = false;
  int status() const { return partial ? 206 : 200; }
};

BodyPart PartOf(const ufs::ObjectInfo& info, const std::optional<net::ByteRange>& range) {
  if (!range) return BodyPart{0, info.size, false};
  return BodyPart{range->first, range->length(), true};
}

// The headers every object response carries (200, 206 and 304 alike).
void SetObjectHeaders(net::ResponseWriter& out, std::string_view etag,
                      const ufs::ObjectInfo& info) {
  out.SetHeader("ETag", Quoted(etag));
  out.SetHeader("Last-Modified", net::HttpDate(info.mtime_ns));
  out.SetHeader("Accept-Ranges", "bytes");
}

// The object's stored headers (Content-Type, by default binary/octet-stream as in S3,
// Content-Encoding, x-amz-meta-*, ...): only on an answer that carries the object (200,
// 206), never on an error document (a Content-Encoding: gzip on XML would break clients).
void SetStoredHeaders(net::ResponseWriter& out, const ufs::ObjectInfo& info) {
  out.SetHeader("Content-Type", "binary/octet-stream");
  if (info.headers) {
    for (const auto& [name, value] : *info.headers) out.SetHeader(name, value);
  }
}

// The headers a PutObject or CreateMultipartUpload asks the object to keep; nullopt when
// its user metadata (x-amz-meta-* names and values) is over S3's 2 KB.
std::optional<ufs::ObjectHeaders> StoredHeadersOf(const net::HttpRequest& req) {
  constexpr size_t kMaxUserMetadata = 2048;
  ufs::ObjectHeaders out;
  size_t user = 0;
  for (const auto& [name, value] : req.headers) {
    std::string lower(name);
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!ufs::IsStoredHeader(lower)) continue;
    if (lower.starts_with("x-amz-meta-")) user += lower.size() - 11 + value.size();
    out.emplace_back(std::move(lower), value);
  }
  if (user > kMaxUserMetadata) return std::nullopt;
  return out;
}

const net::S3Error kMetadataTooLarge = net::S3Error::Of(
    400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.");

// GetObject's response-* query parameters (presigned URLs use them): each overrides the
// header it names.
void ApplyResponseOverrides(net::ResponseWriter& out,
                            const std::vector<std::pair<std::string, std::string>>& query) {
  static constexpr std::pair<std::string_view, std::string_view> kOverrides[] = {
      {"response-content-type", "Content-Type"},
      {"response-content-language", "Content-Language"},
      {"response-expires", "Expires"},
      {"response-cache-control", "Cache-Control"},
      {"response-content-disposition", "Content-Disposition"},
      {"response-content-encoding", "Content-Encoding"}};
  for (const auto& [k, v] : query) {
    for (const auto& [param, header] : kOverrides) {
      if (k == param) out.SetHeader(header, v);
    }
  }
}

// Content-Range for a range answer; nothing for the whole object.
void SetContentRange(net::ResponseWriter& out, const ufs::ObjectInfo& info, const BodyPart& part) {
  if (!part.partial) return;
  out.SetHeader("Content-Range", fmt::format("bytes {}-{}/{}", part.first,
                                             part.first + part.length - 1, info.size));
}

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

// A request's Content-MD5 as 16 raw bytes: "" when there is none, nullopt when it is not
// the base64 of 16 bytes (S3's InvalidDigest).
std::optional<std::string> ContentMd5(const net::HttpRequest& req) {
  if (!req.HasHeader("Content-MD5")) return std::string();
  std::string md5 = Base64Decode(req.Header("Content-MD5"));
  if (md5.size() != 16) return std::nullopt;
  return md5;
}

const net::S3Error kInvalidDigest =
    net::S3Error::Of(400, "InvalidDigest", "The Content-MD5 you specified is not valid.");

}  // namespace

bool S3Service::RefuseConditionalWrite(Call& c) {
  if (!c.req.HasHeader("If-Match") && !c.req.HasHeader("If-None-Match")) return false;
  const std::string path = c.Path();
  cache_->InvalidateStat(path);  // the key as the under store has it now
  auto info = cache_->Stat(path);
  if (!info.ok() && !info.status().Is(StatusCode::kNotFound)) {
    SendStatusError(c, info.status());
    return true;
  }
  std::optional<std::string> etag;
  if (info.ok() && !info->is_dir) etag = S3ETag(*info);
  switch (net::EvaluateWritePreconditions(c.req, etag)) {
    case net::WritePrecondition::kProceed:
      return false;
    case net::WritePrecondition::kFailed:
      SendError(c, net::S3Error::Of(412, "PreconditionFailed",
                                    "At least one of the pre-conditions you specified did not hold"));
      return true;
    case net::WritePrecondition::kNoSuchKey:
      SendError(c, net::S3Error::Of(404, "NoSuchKey", "The specified key does not exist."));
      return true;
  }
  return true;
}

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
  std::shared_ptr<const ufs::ObjectHeaders> sent;  // the stored headers set so far
  // Before another version's answer or an error document (whose Content-Encoding: gzip or
  // Content-Disposition a browser would apply to the XML): none of the object's headers
  // may stay.
  auto clear_object_headers = [&] {
    if (c.out.HeadersSent()) return;
    for (const char* h : {"ETag", "Last-Modified", "Accept-Ranges", "Content-Range",
                          "Content-Type", "Content-Length", "Content-Language", "Expires",
                          "Cache-Control", "Content-Disposition", "Content-Encoding"}) {
      c.out.RemoveHeader(h);
    }
    if (sent) {
      for (const auto& [name, value] : *sent) c.out.RemoveHeader(name);
    }
  };
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (attempt > 0) clear_object_headers();  // the version that changed under us
    auto info = head ? cache_->Stat(path) : cache_->StatForRead(path, hint, options_.read_chunk);
    // A cold open of a "directory" key fails as such; a plain stat tells what it is.
    if (!info.ok() && info.status().Is(StatusCode::kInvalidArgument)) info = cache_->Stat(path);
    // A stat from a listing (a load's) does not carry the stored headers: ask the store.
    if (info.ok() && !info->is_dir && !info->headers) {
      cache_->InvalidateStat(path);
      info = cache_->Stat(path);
    }
    if (!info.ok()) return SendStatusError(c, info.status());
    if (info->is_dir) {
      return SendError(c, net::S3Error::Of(404, "NoSuchKey", "The specified key does not exist."));
    }
    const std::string etag = S3ETag(*info);
    SetObjectHeaders(c.out, etag, *info);
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
    BodyPart part = PartOf(*info, *range);
    if (c.Has("partNumber")) {  // part 1 of an object uploaded whole is the object
      if (c.Get("partNumber") != "1") {
        return SendError(c, net::S3Error::Of(416, "InvalidPartNumber",
                                             "The requested partnumber is not satisfiable"));
      }
      if (etag.find('-') != std::string::npos) {  // a multipart object: its parts are unknown
        return SendError(c, net::S3Error::Of(501, "NotImplemented",
                                             "GET ?partNumber of a multipart object"));
      }
      if (c.req.HasHeader("Range")) {
        return SendError(c, net::S3Error::Of(400, "InvalidRequest",
                                             "Cannot specify both Range header and partNumber"));
      }
      part = BodyPart{0, info->size, info->size > 0};
    }
    SetContentRange(c.out, *info, part);
    SetStoredHeaders(c.out, *info);
    sent = info->headers;
    ApplyResponseOverrides(c.out, c.query);
    c.out.SetHeader("Content-Length", std::to_string(part.length));
    c.out.SetStatus(part.status());
    c.status = part.status();
    if (head || part.length == 0) {
      (void)c.out.Finish();
      return;
    }
    Status s = StreamObjectRange(*cache_, path, info->Version(), part.first, part.length,
                                 options_.read_chunk, c.out, options_.blocks);
    if (s.ok()) {
      (void)c.out.Finish();
      return;
    }
    // Changed between stat and read, nothing sent yet: serve the new version (once).
    if (!c.out.HeadersSent() && s.Is(StatusCode::kFailedPrecondition)) continue;
    clear_object_headers();
    return SendStatusError(c, s);  // mid-body: the server closes the connection
  }
  clear_object_headers();
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
  auto object = cache_->CachedStat(*path);
  if (!object || !object->info.headers) return false;  // headers unknown: the handler asks
  const ufs::ObjectInfo& info = object->info;
  const std::string etag = S3ETag(info);
  if (net::EvaluatePreconditions(req, etag, info.mtime_ns) != net::Precondition::kProceed) {
    return false;
  }
  auto range = net::ParseRange(req.Header("Range"), info.size);
  if (!range.ok()) return false;
  const BodyPart part = PartOf(info, *range);
  if (part.length > options_.max_inline_bytes) return false;
  std::vector<ReadThroughCache::SharedSlice> body;  // sent from the cached pages, uncopied
  if (req.method == "GET") {
    auto slices = cache_->ShareIfInMemory(*object, part.first, part.length);
    if (!slices) return false;
    body = std::move(*slices);
  }
  // Answering now: nothing above touched `out`.
  char id[16];
  out.SetHeader("x-amz-request-id", RequestId(++request_ids_, id));
  SetObjectHeaders(out, etag, info);
  SetStoredHeaders(out, info);
  SetContentRange(out, info, part);
  out.SetHeader("Content-Length", std::to_string(part.length));
  out.SetStatus(part.status());
  for (auto& slice : body) {  // empty for a HEAD
    if (!out.WriteShared(std::move(slice.page), slice.bytes).ok()) break;
  }
  (void)out.Finish();
  if (registry_ != nullptr) {
    inline_requests_->Inc();
    inline_counters_[req.method == "HEAD"][part.status() == 206]->Inc();
  }
  return true;
}

namespace {

// A body with neither Content-Length nor chunked framing is no body in HTTP/1.1: its bytes
// would be read as the next request, and the object stored empty. S3 answers 411.
bool Unframed(const net::HttpRequest& req) {
  return !req.content_length && !req.HasHeader("Transfer-Encoding");
}

const net::S3Error kMissingContentLength = net::S3Error::Of(
    411, "MissingContentLength", "You must provide the Content-Length HTTP header.");

}  // namespace

void S3Service::PutObject(Call& c) {
  c.op = "PutObject";
  if (c.req.HasHeader("x-amz-copy-source")) {
    return SendError(c, net::S3Error::Of(501, "NotImplemented", "CopyObject is not supported"));
  }
  if (Unframed(c.req)) return SendError(c, kMissingContentLength);
  const std::optional<std::string> want_md5 = ContentMd5(c.req);
  if (!want_md5) return SendError(c, kInvalidDigest);
  if (RefuseConditionalWrite(c)) return;
  const std::optional<ufs::ObjectHeaders> stored = StoredHeadersOf(c.req);
  if (!stored) return SendError(c, kMetadataTooLarge);
  auto up = writes_->Begin(c.Path(), c.req.content_length.value_or(0), *stored);
  if (!up.ok()) return SendStatusError(c, up.status());
  Md5 md5;
  if (Status s = AppendBody(*c.body, **up, &md5); !s.ok()) {
    (*up)->Abort();
    return SendStatusError(c, s);
  }
  if (!want_md5->empty() && *want_md5 != md5.Digest()) {
    (*up)->Abort();
    return SendError(c, net::S3Error::Of(400, "BadDigest",
                                         "The Content-MD5 you specified did not match"));
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
  const std::optional<ufs::ObjectHeaders> stored = StoredHeadersOf(c.req);
  if (!stored) return SendError(c, kMetadataTooLarge);
  auto id = uploads_->Create(c.Path(), *stored);
  if (!id.ok()) return SendStatusError(c, id.status());
  c.status = 200;
  (void)c.out.Send(200, kXml, net::RenderInitiateMultipartUpload(c.bucket, c.key, *id));
}

void S3Service::UploadPart(Call& c) {
  c.op = "UploadPart";
  if (c.req.HasHeader("x-amz-copy-source")) {
    return SendError(c,
                     net::S3Error::Of(501, "NotImplemented", "UploadPartCopy is not supported"));
  }
  if (Unframed(c.req)) return SendError(c, kMissingContentLength);
  const std::string number_text = c.Get("partNumber");
  int number = 0;
  auto [end, ec] =
      std::from_chars(number_text.data(), number_text.data() + number_text.size(), number);
  if (ec != std::errc() || end != number_text.data() + number_text.size()) {
    return SendError(c, net::S3Error::Of(400, "InvalidArgument",
                                         "Part number must be an integer between 1 and 10000"));
  }
  const std::optional<std::string> want_md5 = ContentMd5(c.req);
  if (!want_md5) return SendError(c, kInvalidDigest);
  auto etag = uploads_->UploadPart(c.Get("uploadId"), c.Path(), number, *c.body,
                                   options_.max_part_bytes, ToHex(*want_md5));
  if (!etag.ok()) return SendStatusError(c, etag.status());
  c.status = 200;
  c.out.SetHeader("ETag", Quoted(*etag));
  (void)c.out.Send(200, "text/plain", "");
}

void S3Service::CompleteMultipart(Call& c) {
  c.op = "CompleteMultipartUpload";
  if (RefuseConditionalWrite(c)) return;
  auto xml = c.body->ReadAll(options_.max_xml_body);
  if (!xml.ok()) return SendStatusError(c, xml.status());
  auto parts = net::ParseCompleteMultipartUpload(*xml);
  if (!parts.ok()) return SendStatusError(c, parts.status());
  std::vector<std::pair<int, std::string>> list;
  for (const auto& p : *parts) list.emplace_back(p.part_number, p.etag);
  // Keep-alive: past complete_keepalive, the 200 and the XML declaration go out, then a
  // space every interval while the parts stream; the result (or an <Error>) ends the body.
  constexpr std::string_view kDecl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  auto last = std::chrono::steady_clock::now();
  bool started = false;
  auto keepalive = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (now - last < options_.complete_keepalive) return;
    last = now;
    if (!started) {
      started = true;
      c.out.SetStatus(200);
      c.out.SetHeader("Content-Type", kXml);  // no Content-Length: chunked
      (void)c.out.Write(kDecl);  // a client gone is not a reason to stop completing
    } else {
      (void)c.out.Write(" ");
    }
  };
  auto info = uploads_->Complete(c.Get("uploadId"), c.Path(), list, keepalive);
  InvalidateListings(c.bucket);
  if (!started) {
    if (!info.ok()) return SendStatusError(c, info.status());
    c.status = 200;
    (void)c.out.Send(200, kXml,
                     net::RenderCompleteMultipartUpload(c.Path(), c.bucket, c.key, S3ETag(*info)));
    return;
  }
  std::string doc;
  if (info.ok()) {
    doc = net::RenderCompleteMultipartUpload(c.Path(), c.bucket, c.key, S3ETag(*info));
    c.status = 200;
  } else {
    const net::S3Error e = ErrorFor(c, info.status());
    doc = net::RenderS3ErrorXml(e, c.Resource(), c.request_id);
    c.status = e.http_status;
  }
  if (doc.starts_with(kDecl)) doc.erase(0, kDecl.size());  // sent first
  if (c.out.Write(doc).ok()) (void)c.out.Finish();
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
  int max_parts = 1000, marker = 0;
  if (!ParseCount(c, "max-parts", 1000, &max_parts) ||
      !ParseCount(c, "part-number-marker", 10000, &marker)) {
    return;
  }
  auto parts = uploads_->ListParts(c.Get("uploadId"), c.Path());
  if (!parts.ok()) return SendStatusError(c, parts.status());
  std::vector<net::PartEntry> entries;
  bool truncated = false;
  for (const auto& p : *parts) {
    if (p.number <= marker) continue;
    if (static_cast<int>(entries.size()) == max_parts) {
      truncated = max_parts > 0;  // an empty page never says "more": a client would loop
      break;
    }
    entries.push_back({p.number, p.size, p.mtime_ns, p.etag});
  }
  c.status = 200;
  (void)c.out.Send(200, kXml, net::RenderListParts(c.bucket, c.key, c.Get("uploadId"), entries,
                                                   marker, max_parts, truncated));
}

}  // namespace sluice::worker
