// S3Store: an UnderStore over an S3 bucket (AWS or any S3-compatible server), optionally
// rooted at a key prefix: s3://bucket[/prefix][?endpoint=URL&region=R&addressing=...].
//
//   Stat    HEAD (ETag unquoted, Content-Length, Last-Modified); a key that is no object
//           but has children ("key/..." exists) is a directory.
//   List    ListObjectsV2; keys and prefixes are relative to the store's prefix.
//   Read    ranged GET with If-Match; the response ETag is checked too (some servers
//           ignore If-Match): a mismatch is kFailedPrecondition.
//   Write   a Writer that buffers up to multipart_threshold and then streams
//           part_size parts through a multipart upload; a single PUT below that.
//   Delete  DELETE (deleting a missing key succeeds, as in S3).
// Requests are signed by libcurl (SigV4, UNSIGNED-PAYLOAD) when credentials resolve
// (see s3_config.h), and retried with back-off on 5xx, throttling, connection errors
// and timeouts (see curl_client.h). Errors name the method, key, HTTP status and the
// S3 error code.
//
// Thread-safety: thread-safe; one instance serves all threads. Writers are per thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "ufs/curl_client.h"
#include "ufs/options.h"
#include "ufs/s3_config.h"
#include "ufs/under_store.h"

namespace sluice::ufs {

// The transport options for S3 calls under `config` and `options`.
CurlClientOptions S3ClientOptions(const S3Config& config, const S3Options& options);
// A request for `url` with the S3 headers and, when `config` has credentials, SigV4
// signing (UNSIGNED-PAYLOAD) set up. Shared by S3Store and the S3 store root.
HttpRequest NewS3Request(const S3Config& config, std::string method, std::string url);

class S3Store : public UnderStore {
 public:
  S3Store(S3Config config, const S3Options& options);

  const std::string& Uri() const override { return config_.uri; }
  Result<ObjectInfo> Stat(std::string_view key) override;
  Result<ListPage> List(const ListOptions& options) override;
  Result<std::string> Read(std::string_view key, uint64_t offset, uint64_t length,
                           std::string_view expected_version = {}) override;
  Result<ReadResult> ReadWithInfo(std::string_view key, uint64_t offset,
                                  uint64_t length) override;
  Result<std::unique_ptr<Writer>> OpenWrite(std::string_view key,
                                            const ObjectHeaders& headers) override;
  using UnderStore::OpenWrite;
  Status Delete(std::string_view key) override;
  UnderStoreStats GetStats() const override;

  const S3Config& config() const { return config_; }

 private:
  friend class S3Writer;

  struct Counters {
    std::atomic<uint64_t> stats{0}, lists{0}, reads{0}, writes{0}, deletes{0};
    std::atomic<uint64_t> bytes_read{0}, bytes_written{0}, errors{0};
  };

  // prefix + normalised key; kInvalidArgument for the root unless `allow_root`.
  Result<std::string> FullKey(std::string_view key, bool allow_root = false) const;
  // A request for `url`, with the S3 headers and signing set up.
  HttpRequest NewRequest(std::string method, std::string url) const;
  // The Status of a failed response: "METHOD key: HTTP 503: SlowDown: message".
  Status ErrorOf(const HttpResponse& response, std::string_view method, std::string_view key) const;
  // A ranged GET; fills *info from the response headers when info is not null.
  Result<std::string> ReadImpl(std::string_view key, uint64_t offset, uint64_t length,
                               std::string_view expected_version, ObjectInfo* info);
  Result<ListPage> ListRaw(const std::string& prefix, const ListOptions& options);
  // Counts a failure (other than kNotFound) and passes the status through.
  Status Failed(Status status);

  const S3Config config_;
  const S3Options options_;
  CurlClient client_;
  Counters counters_;
};

}  // namespace sluice::ufs
