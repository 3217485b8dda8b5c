#include "worker/object_stream.h"

#include <algorithm>
#include <memory>

namespace sluice::worker {

namespace {

constexpr uint64_t kBodyChunk = 1 << 20;

// A buffer of at least `size` bytes, kept per handler thread: a fresh 1 MiB allocation per
// request costs page faults (and the kernel zeroing them) every time.
char* ThreadBuffer(uint64_t size) {
  thread_local std::unique_ptr<char[]> buf;
  thread_local uint64_t buf_size = 0;
  if (buf_size < size) {
    buf.reset(new char[size]);
    buf_size = size;
  }
  return buf.get();
}

}  // namespace

Status StreamObjectRange(ReadThroughCache& cache, std::string_view path, std::string_view version,
                         uint64_t first, uint64_t length, uint64_t chunk,
                         net::ResponseWriter& out, BlockSource* blocks) {
  const uint64_t step = std::min(length, chunk);
  char* buf = ThreadBuffer(step);
  // Striping applies only to objects that reach past their first block.
  const uint64_t bs = blocks != nullptr ? blocks->block_size() : 0;
  if (bs != 0 && first + length <= bs) blocks = nullptr;
  for (uint64_t done = 0; done < length;) {
    const uint64_t at = first + done;
    size_t want = static_cast<size_t>(std::min(step, length - done));
    std::optional<Result<size_t>> remote;
    if (blocks != nullptr) {
      want = static_cast<size_t>(std::min<uint64_t>(want, (at / bs + 1) * bs - at));
      remote = blocks->ReadRemote(path, version, at, std::span<char>(buf, want));
    }
    if (!remote) {  // pages held in memory are sent as they are, not copied
      if (auto slices = cache.ShareCached(path, version, at, want); slices && !slices->empty()) {
        for (auto& slice : *slices) {
          SLUICE_RETURN_IF_ERROR(out.WriteShared(std::move(slice.page), slice.bytes));
          done += slice.bytes.size();
        }
        continue;
      }
    }
    Result<size_t> n =
        remote ? std::move(*remote) : cache.Read(path, at, std::span<char>(buf, want), version);
    if (!n.ok()) return n.status();
    if (*n == 0) return Status::DataLoss("object shorter than its stat");
    SLUICE_RETURN_IF_ERROR(out.Write(std::string_view(buf, *n)));
    done += *n;
  }
  return Status::OK();
}

Status AppendBody(net::BodyReader& body, Upload& upload, Md5* md5) {
  char* buf = ThreadBuffer(kBodyChunk);
  for (;;) {
    SLUICE_ASSIGN_OR_RETURN(size_t n, body.Read(std::span<char>(buf, kBodyChunk)));
    if (n == 0) return Status::OK();
    std::string_view chunk(buf, n);
    if (md5 != nullptr) md5->Update(chunk);
    SLUICE_RETURN_IF_ERROR(upload.Append(chunk));
  }
}

}  // namespace sluice::worker
