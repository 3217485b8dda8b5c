// HttpStore: a read-only UnderStore over an HTTP(S) origin, http(s)://host[:port]/base.
// Key k is the URL base/k (each path segment percent-encoded).
//
//   Stat   HEAD: Content-Length, ETag (unquoted), Last-Modified. No directories.
//   Read   ranged GET. The version is the ETag when the origin sends one, else
//          "s<size>-m<mtime_ns>" from Content-Range/Last-Modified; a read that sees a
//          version other than the expected one fails with kFailedPrecondition. An origin
//          that ignores Range (200) still works: the slice is cut from the whole body.
//   List, OpenWrite, Delete: kUnimplemented.
// Retries and connection reuse come from CurlClient.
//
// Thread-safety: thread-safe; one instance serves all threads.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "ufs/curl_client.h"
#include "ufs/options.h"
#include "ufs/under_store.h"

namespace sluice::ufs {

class HttpStore : public UnderStore {
 public:
  // `base_url`: scheme://host[:port][/base], without a trailing '/'.
  HttpStore(std::string base_url, const HttpOptions& options);

  const std::string& Uri() const override { return base_url_; }
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

 private:
  Result<std::string> Url(std::string_view key) const;
  Status Failed(Status status);
  // A ranged GET (a HEAD when length is 0); fills *info from the response when not null,
  // and *sized with whether the response named the object's size.
  Result<std::string> ReadImpl(std::string_view key, uint64_t offset, uint64_t length,
                               std::string_view expected_version, ObjectInfo* info,
                               bool* sized = nullptr);

  const std::string base_url_;
  CurlClient client_;
  std::atomic<uint64_t> stats_{0}, reads_{0}, bytes_read_{0}, errors_{0};
};

}  // namespace sluice::ufs
