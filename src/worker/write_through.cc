#include "worker/write_through.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "common/logging.h"

namespace sluice::worker {

Upload::Upload(WriteThrough* owner, std::string path, std::unique_ptr<ufs::Writer> writer,
               int staging_fd, uint64_t max_staged)
    : owner_(owner),
      path_(std::move(path)),
      writer_(std::move(writer)),
      staging_fd_(staging_fd),
      max_staged_(max_staged) {}

Upload::~Upload() {
  if (!done_) Abort();
  if (staging_fd_ >= 0) close(staging_fd_);
}

Status Upload::Append(std::string_view data) {
  if (done_) return Status::FailedPrecondition("upload already finished");
  SLUICE_RETURN_IF_ERROR(writer_->Append(data));
  if (staging_fd_ >= 0 && bytes_ + data.size() > max_staged_) {
    close(staging_fd_);  // too large to cache (size unknown up front): write through only
    staging_fd_ = -1;
  }
  if (staging_fd_ >= 0) {
    // Staging is only for caching: a failure here stops caching, not the write.
    size_t off = 0;
    while (off < data.size()) {
      ssize_t w = pwrite(staging_fd_, data.data() + off, data.size() - off,
                         static_cast<off_t>(bytes_ + off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        SLUICE_LOG_WARN("staging {} for caching failed ({}); writing through uncached", path_,
                        std::strerror(errno));
        close(staging_fd_);
        staging_fd_ = -1;
        break;
      }
      off += static_cast<size_t>(w);
    }
  }
  bytes_ += data.size();
  owner_->bytes_ += data.size();
  return Status::OK();
}

Result<ufs::ObjectInfo> Upload::Commit() {
  if (done_) return Status::FailedPrecondition("upload already finished");
  done_ = true;
  Result<ufs::ObjectInfo> info = writer_->Close();
  // Whatever happened, the old cached view of this path is no longer trustworthy.
  owner_->cache_->Invalidate(path_);
  owner_->cache_->InvalidateStat(path_);  // and its directories' (created or emptied)
  if (owner_->on_change_) owner_->on_change_(path_);
  if (!info.ok()) {
    owner_->aborted_++;
    return info.status().WithContext(fmt::format("write {}", path_));
  }
  owner_->committed_++;
  if (staging_fd_ >= 0 && info->size == bytes_) {
    int fd = staging_fd_;
    size_t pages = owner_->cache_->AdmitWritten(
        path_, *info, [fd](uint64_t offset, std::span<char> out) -> Result<size_t> {
          size_t done = 0;
          while (done < out.size()) {
            ssize_t r = pread(fd, out.data() + done, out.size() - done,
                              static_cast<off_t>(offset + done));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return Status::IoError(std::strerror(errno));
            if (r == 0) break;
            done += static_cast<size_t>(r);
          }
          return done;
        });
    owner_->pages_cached_ += pages;
  }
  return info;
}

void Upload::Abort() {
  if (done_) return;
  done_ = true;
  writer_->Abort();
  owner_->aborted_++;
}

WriteThrough::WriteThrough(std::shared_ptr<ufs::MountTable> mounts,
                           std::shared_ptr<ReadThroughCache> cache, std::string staging_dir,
                           uint64_t max_cached_object)
    : mounts_(std::move(mounts)),
      cache_(std::move(cache)),
      staging_dir_(std::move(staging_dir)),
      max_cached_object_(max_cached_object) {
  if (!staging_dir_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(staging_dir_, ec);
    if (ec) SLUICE_LOG_WARN("staging dir {}: {}; writes will not be cached", staging_dir_, ec.message());
  }
}

Result<std::unique_ptr<Upload>> WriteThrough::Begin(std::string_view path, uint64_t size_hint,
                                                    const ufs::ObjectHeaders& headers) {
  SLUICE_ASSIGN_OR_RETURN(ufs::Resolved r, mounts_->Resolve(path));
  if (!r.store || r.key.empty() || r.key.back() == '/') {
    return Status::InvalidArgument(fmt::format("'{}' is not an object path", path));
  }
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<ufs::Writer> writer, r.store->OpenWrite(r.key, headers));
  int fd = -1;
  if (!staging_dir_.empty() && size_hint <= max_cached_object_) {
    fd = open(staging_dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) SLUICE_LOG_DEBUG("no staging file in {}: {}", staging_dir_, std::strerror(errno));
  }
  uploads_++;
  return std::unique_ptr<Upload>(
      new Upload(this, std::string(path), std::move(writer), fd, max_cached_object_));
}

Status WriteThrough::Delete(std::string_view path) {
  SLUICE_ASSIGN_OR_RETURN(ufs::Resolved r, mounts_->Resolve(path));
  if (!r.store || r.key.empty()) {
    return Status::InvalidArgument(fmt::format("'{}' is not an object path", path));
  }
  Status s = r.store->Delete(r.key);
  cache_->Invalidate(path);
  cache_->InvalidateStat(path);
  if (on_change_) on_change_(std::string(path));
  return s;
}

WriteThroughStats WriteThrough::GetStats() const {
  return WriteThroughStats{uploads_, committed_, aborted_, bytes_, pages_cached_};
}

}  // namespace sluice::worker
