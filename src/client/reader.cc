#include "client/reader.h"

#include <algorithm>
#include <cstring>
#include <future>

#include <fmt/format.h>

namespace sluice::client {
namespace {

struct Window {
  uint64_t offset = 0;
  std::string data;
  bool Contains(uint64_t at) const { return at >= offset && at < offset + data.size(); }
};

class WindowReader final : public Reader {
 public:
  WindowReader(ObjectStat stat, uint64_t readahead, ReadFn read)
      : stat_(std::move(stat)), readahead_(readahead), read_(std::move(read)) {}
  ~WindowReader() override {
    if (next_.valid()) next_.wait();
  }

  const ObjectStat& stat() const override { return stat_; }
  uint64_t Tell() const override { return pos_; }
  void Seek(uint64_t offset) override { pos_ = offset; }

  Result<size_t> Read(std::span<char> out) override {
    bool sequential = pos_ == last_end_;
    streak_ = sequential ? streak_ + 1 : 0;
    SLUICE_ASSIGN_OR_RETURN(size_t n, Fill(pos_, out, streak_ >= 2));
    pos_ += n;
    last_end_ = pos_;
    return n;
  }

  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) override {
    return Fill(offset, out, false);
  }

 private:
  Result<size_t> Fill(uint64_t at, std::span<char> out, bool sequential) {
    if (at >= stat_.size || out.empty()) return size_t{0};
    out = out.subspan(0, std::min<uint64_t>(out.size(), stat_.size - at));
    size_t done = 0;
    while (done < out.size()) {
      uint64_t here = at + done;
      if (!window_.Contains(here)) {
        if (!sequential && out.size() - done >= readahead_) {
          // A large random read: straight into the caller's buffer.
          SLUICE_ASSIGN_OR_RETURN(size_t n, Fetch(here, out.subspan(done)));
          return done + n;
        }
        SLUICE_RETURN_IF_ERROR(Load(here, sequential ? std::max<uint64_t>(readahead_, out.size() - done)
                                                     : out.size() - done));
        if (!window_.Contains(here)) break;  // the object ended early
      }
      uint64_t skip = here - window_.offset;
      size_t n = std::min<size_t>(out.size() - done, window_.data.size() - skip);
      std::memcpy(out.data() + done, window_.data.data() + skip, n);
      done += n;
    }
    if (sequential) Prefetch(window_.offset + window_.data.size());
    return done;
  }

  // Makes the window hold bytes from `at` (the prefetched window if it starts there).
  Status Load(uint64_t at, uint64_t length) {
    if (next_.valid()) {
      auto next = next_.get();
      if (next.ok() && next->Contains(at)) {
        window_ = std::move(next).value();
        return Status::OK();
      }
      if (!next.ok() && next_offset_ == at) return next.status();
    }
    length = std::min<uint64_t>(length, stat_.size - at);
    Window w{at, std::string(length, '\0')};
    SLUICE_ASSIGN_OR_RETURN(size_t n, Fetch(at, std::span<char>(w.data.data(), w.data.size())));
    w.data.resize(n);
    window_ = std::move(w);
    return Status::OK();
  }

  void Prefetch(uint64_t at) {
    if (next_.valid() || at >= stat_.size || readahead_ == 0) return;
    uint64_t length = std::min<uint64_t>(readahead_, stat_.size - at);
    next_offset_ = at;
    next_ = std::async(std::launch::async, [this, at, length]() -> Result<Window> {
      Window w{at, std::string(length, '\0')};
      SLUICE_ASSIGN_OR_RETURN(size_t n, Fetch(at, std::span<char>(w.data.data(), w.data.size())));
      w.data.resize(n);
      return w;
    });
  }

  Result<size_t> Fetch(uint64_t at, std::span<char> out) {
    std::string version = stat_.version;  // wanted; becomes the version served
    SLUICE_ASSIGN_OR_RETURN(size_t n, read_(stat_.path, at, out, &version));
    if (!version.empty() && !stat_.version.empty() && version != stat_.version) {
      return Status::FailedPrecondition(
          fmt::format("{} changed while open (version {} became {})", stat_.path, stat_.version,
                      version));
    }
    return n;
  }

  ObjectStat stat_;
  const uint64_t readahead_;
  ReadFn read_;
  uint64_t pos_ = 0;
  uint64_t last_end_ = 0;
  int streak_ = 0;
  Window window_;
  std::future<Result<Window>> next_;
  uint64_t next_offset_ = 0;
};

}  // namespace

std::unique_ptr<Reader> MakeReader(ObjectStat stat, uint64_t readahead, ReadFn read) {
  return std::make_unique<WindowReader>(std::move(stat), readahead, std::move(read));
}

}  // namespace sluice::client
