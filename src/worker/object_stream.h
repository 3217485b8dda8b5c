// Streaming an object's bytes between HTTP bodies and the cache, shared by the S3 API and
// the /v1 API: out of the cache into a response, and from a request body into an Upload.
//
// Thread-safety: call from a handler thread (they may block on the page store, the under
// store or the client); one reused buffer per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "net/http.h"
#include "common/digest.h"
#include "worker/read_through.h"
#include "worker/write_through.h"

namespace sluice::worker {

// Large objects striped over a cluster (docs/cluster.md): block i of an object larger than
// block_size() belongs to the member the ring names. ReadRemote reads [offset, offset +
// out.size()) — within one block — from that owner, checking it serves `version`
// (kFailedPrecondition otherwise); nullopt when the block is this worker's, or its owner
// cannot be reached: then the bytes are read here.
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual uint64_t block_size() const = 0;
  virtual std::optional<Result<size_t>> ReadRemote(std::string_view path, std::string_view version,
                                                   uint64_t offset, std::span<char> out) = 0;
};

// Writes bytes [first, first + length) of the object at `path`, at `version`, to `out`, in
// chunks of at most `chunk` bytes; with `blocks`, blocks owned by other members are read
// from them (never across a block boundary in one piece). OK once every byte is written (the caller Finishes).
// Otherwise the first failure: a read error (kFailedPrecondition when the object changed,
// kDataLoss when it is shorter than its stat) — which the caller may still answer while
// !out.HeadersSent() — or the error of a client that went away.
Status StreamObjectRange(ReadThroughCache& cache, std::string_view path, std::string_view version,
                         uint64_t first, uint64_t length, uint64_t chunk, net::ResponseWriter& out,
                         BlockSource* blocks = nullptr);

// Appends the whole request body to `upload` (and to `md5` when given). OK at the end of
// the body; otherwise the body's or the upload's error (the caller aborts the upload).
Status AppendBody(net::BodyReader& body, Upload& upload, Md5* md5 = nullptr);

}  // namespace sluice::worker
