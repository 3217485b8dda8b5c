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
                         net::ResponseWriter& out) {
  const uint64_t step = std::min(length, chunk);
  char* buf = ThreadBuffer(step);
  for (uint64_t done = 0; done < length;) {
    size_t want = static_cast<size_t>(std::min(step, length - done));
    Result<size_t> n = cache.Read(path, first + done, std::span<char>(buf, want), version);
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
