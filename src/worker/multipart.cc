#include "worker/multipart.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <tuple>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "common/digest.h"

namespace sluice::worker {
namespace fs = std::filesystem;

namespace {

std::string NewUploadId() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

constexpr size_t kMaxOpenUploads = 10000;
// An upload with no new part for this long is abandoned: its staging is reclaimed.
constexpr std::chrono::hours kAbandonedAfter{24};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status WriteAll(int fd, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = write(fd, data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      return errno == ENOSPC ? Status::ResourceExhausted("staging disk full")
                             : Status::IoError(std::strerror(errno));
    }
    off += static_cast<size_t>(w);
  }
  return Status::OK();
}

}  // namespace

std::string MultipartUploads::UploadIdPrefix(std::string_view member_id) {
  return ToHex(member_id) + "-";
}

std::optional<std::string> MultipartUploads::CreatorOf(std::string_view upload_id) {
  const size_t dash = upload_id.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash % 2 != 0) return std::nullopt;
  std::string id;
  for (size_t i = 0; i < dash; i += 2) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(upload_id.data() + i, upload_id.data() + i + 2, v, 16);
    if (ec != std::errc() || end != upload_id.data() + i + 2) return std::nullopt;
    id += static_cast<char>(v);
  }
  return id;
}

MultipartUploads::MultipartUploads(WriteThrough* writes, std::string staging_dir,
                                   std::string creator)
    : writes_(writes),
      root_(staging_dir.empty() ? "" : staging_dir + "/uploads"),
      creator_(std::move(creator)) {
  if (!root_.empty()) {
    std::error_code ec;
    fs::remove_all(root_, ec);  // uploads of an earlier process are gone with it
    fs::create_directories(root_, ec);
  }
}

std::string MultipartUploads::DirOf(std::string_view id) const {
  return fmt::format("{}/{}", root_, id);
}

Result<std::string> MultipartUploads::Create(std::string_view path,
                                             const ufs::ObjectHeaders& headers) {
  if (root_.empty()) return Status::Unimplemented("multipart uploads need a staging directory");
  SweepAbandoned();
  std::string id = creator_ + NewUploadId();
  {
    std::lock_guard lock(mu_);
    if (uploads_.size() >= kMaxOpenUploads) {
      return Status::ResourceExhausted(
          fmt::format("too many open multipart uploads ({}); complete or abort some",
                      uploads_.size()));
    }
  }
  std::error_code ec;
  fs::create_directories(DirOf(id), ec);
  if (ec) return Status::IoError(fmt::format("staging {}: {}", DirOf(id), ec.message()));
  std::lock_guard lock(mu_);
  uploads_[id] = State{std::string(path), {}, false, NowNs(), headers};
  return id;
}

void MultipartUploads::SweepAbandoned() {
  const int64_t cutoff = NowNs() - std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       kAbandonedAfter).count();
  std::vector<std::string> stale;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, st] : uploads_) {
      int64_t last = st.created_ns;
      for (const auto& [n, p] : st.parts) last = std::max(last, p.mtime_ns);
      if (!st.completing && last < cutoff) stale.push_back(id);
    }
  }
  for (const auto& id : stale) Drop(id);
}

Result<std::string> MultipartUploads::UploadPart(std::string_view upload_id, std::string_view path,
                                                 int number, net::BodyReader& body,
                                                 uint64_t max_part_bytes,
                                                 std::string_view expected_md5_hex) {
  if (number < 1 || number > 10000) {
    return Status::InvalidArgument("part number must be between 1 and 10000");
  }
  {
    std::lock_guard lock(mu_);
    auto it = uploads_.find(upload_id);
    if (it == uploads_.end() || it->second.path != path || it->second.completing) {
      return Status::NotFound(fmt::format("NoSuchUpload: no upload '{}' open for parts", upload_id));
    }
  }
  // Written under a unique name, then renamed: concurrent retries of one part never mix.
  std::string tmp = fmt::format("{}/.part-{}-{}", DirOf(upload_id), number, NewUploadId());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ENOENT) {  // aborted a moment ago: its directory is gone
    return Status::NotFound(fmt::format("NoSuchUpload: no upload '{}'", upload_id));
  }
  if (fd < 0) return Status::IoError(fmt::format("staging part: {}", std::strerror(errno)));
  Md5 md5;
  uint64_t size = 0;
  std::string buf(1 << 20, '\0');
  Status st;
  for (;;) {
    Result<size_t> n = body.Read(std::span<char>(buf.data(), buf.size()));
    if (!n.ok()) {
      st = n.status();
      break;
    }
    if (*n == 0) break;
    size += *n;
    if (size > max_part_bytes) {
      st = Status::InvalidArgument("EntityTooLarge: part larger than the limit");
      break;
    }
    std::string_view chunk(buf.data(), *n);
    md5.Update(chunk);
    st = WriteAll(fd, chunk);
    if (!st.ok()) break;
  }
  close(fd);
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st;
  }
  std::string etag = md5.HexDigest();
  if (!expected_md5_hex.empty() && etag != expected_md5_hex) {
    unlink(tmp.c_str());
    return Status::InvalidArgument("BadDigest: The Content-MD5 you specified did not match");
  }
  std::string final_path = fmt::format("{}/part-{:05}", DirOf(upload_id), number);
  std::lock_guard lock(mu_);
  auto it = uploads_.find(upload_id);
  if (it == uploads_.end() || it->second.completing) {  // aborted or completed meanwhile
    unlink(tmp.c_str());
    return Status::NotFound(fmt::format("NoSuchUpload: no upload '{}' open for parts", upload_id));
  }
  if (rename(tmp.c_str(), final_path.c_str()) != 0) {
    unlink(tmp.c_str());
    return Status::IoError(fmt::format("staging part: {}", std::strerror(errno)));
  }
  it->second.parts[number] = PartInfo{number, size, etag, NowNs()};
  return etag;
}

Result<std::vector<PartInfo>> MultipartUploads::ListParts(std::string_view upload_id,
                                                          std::string_view path) {
  std::lock_guard lock(mu_);
  auto it = uploads_.find(upload_id);
  if (it == uploads_.end() || it->second.path != path) {
    return Status::NotFound(fmt::format("NoSuchUpload: no upload '{}'", upload_id));
  }
  std::vector<PartInfo> out;
  for (const auto& [n, p] : it->second.parts) out.push_back(p);
  return out;
}

std::vector<MultipartUploads::OpenUpload> MultipartUploads::ListUploads(
    std::string_view path_prefix) {
  std::vector<OpenUpload> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, st] : uploads_) {
      if (st.path.starts_with(path_prefix) && !st.completing) {
        out.push_back({st.path, id, st.created_ns});
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const OpenUpload& a, const OpenUpload& b) {
    return std::tie(a.path, a.upload_id) < std::tie(b.path, b.upload_id);
  });
  return out;
}

Result<ufs::ObjectInfo> MultipartUploads::Complete(
    std::string_view upload_id, std::string_view path,
    const std::vector<std::pair<int, std::string>>& parts, const std::function<void()>& progress) {
  State state;
  {
    std::unique_lock lock(mu_);
    for (;;) {
      const int64_t now = NowNs();
      std::erase_if(completed_, [&](const auto& e) {
        return now - e.second.at_ns > std::chrono::nanoseconds(kCompletedKept).count();
      });
      if (auto done = completed_.find(upload_id);
          done != completed_.end() && done->second.path == path) {
        return done->second.info;  // a retry of a Complete that succeeded
      }
      auto it = uploads_.find(upload_id);
      if (it == uploads_.end() || it->second.path != path) {
        return Status::NotFound(fmt::format("NoSuchUpload: no upload '{}'", upload_id));
      }
      if (!it->second.completing) {
        it->second.completing = true;  // the part files stay as they are until we are done
        state = it->second;
        break;
      }
      // Another Complete of it is streaming (the client gave up waiting and asked again):
      // its result is ours.
      completed_cv_.wait_for(lock, std::chrono::seconds(1));
      if (progress) {
        lock.unlock();
        progress();
        lock.lock();
      }
    }
  }
  Result<ufs::ObjectInfo> info = CompleteLocked(upload_id, path, parts, state, progress);
  if (!info.ok()) {  // the upload stays open: the client may fix its part list and retry
    {
      std::lock_guard lock(mu_);
      if (auto it = uploads_.find(upload_id); it != uploads_.end()) it->second.completing = false;
    }
    completed_cv_.notify_all();
    return info;
  }
  {
    std::lock_guard lock(mu_);
    if (completed_.size() >= kMaxCompletedKept) {  // the oldest answer goes first
      completed_.erase(std::min_element(completed_.begin(), completed_.end(),
                                        [](const auto& a, const auto& b) {
                                          return a.second.at_ns < b.second.at_ns;
                                        }));
    }
    completed_[std::string(upload_id)] = Completed{std::string(path), *info, NowNs()};
  }
  Drop(upload_id);
  completed_cv_.notify_all();
  return info;
}

Result<ufs::ObjectInfo> MultipartUploads::CompleteLocked(
    std::string_view upload_id, std::string_view path,
    const std::vector<std::pair<int, std::string>>& parts, State& state,
    const std::function<void()>& progress) {
  if (parts.empty()) return Status::InvalidArgument("MalformedXML: no parts");
  for (size_t i = 0; i < parts.size(); ++i) {
    auto p = state.parts.find(parts[i].first);
    if (p == state.parts.end() || p->second.etag != parts[i].second) {
      return Status::InvalidArgument(
          fmt::format("InvalidPart: part {} was not uploaded or its ETag differs", parts[i].first));
    }
    if (i > 0 && parts[i].first <= parts[i - 1].first) {
      return Status::InvalidArgument("InvalidPartOrder: parts must be in ascending order");
    }
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (state.parts[parts[i].first].size < kMinPartBytes) {
      return Status::InvalidArgument(fmt::format(
          "EntityTooSmall: part {} is smaller than the 5 MiB every part but the last needs",
          parts[i].first));
    }
  }
  uint64_t total = 0;
  for (const auto& [n, etag] : parts) total += state.parts[n].size;
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<Upload> up, writes_->Begin(path, total, state.headers));
  std::string buf(1 << 20, '\0');
  for (const auto& [n, etag] : parts) {
    std::string file = fmt::format("{}/part-{:05}", DirOf(upload_id), n);
    int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::IoError(fmt::format("staged part {}: {}", n, std::strerror(errno)));
    for (;;) {
      ssize_t r = read(fd, buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        close(fd);
        return Status::IoError(fmt::format("staged part {}: {}", n, std::strerror(errno)));
      }
      if (r == 0) break;
      if (progress) progress();
      Status s = up->Append(std::string_view(buf.data(), static_cast<size_t>(r)));
      if (!s.ok()) {
        close(fd);
        return s;
      }
    }
    close(fd);
  }
  return up->Commit();
}

void MultipartUploads::Drop(std::string_view upload_id) {
  {
    std::lock_guard lock(mu_);
    auto it = uploads_.find(upload_id);
    if (it != uploads_.end()) uploads_.erase(it);
  }
  std::error_code ec;
  fs::remove_all(DirOf(upload_id), ec);
}

Status MultipartUploads::Abort(std::string_view upload_id, std::string_view path) {
  {
    std::lock_guard lock(mu_);
    auto it = uploads_.find(upload_id);
    if (it == uploads_.end() || it->second.path != path) {
      return Status::NotFound(fmt::format("NoSuchUpload: no upload '{}'", upload_id));
    }
    if (it->second.completing) {
      return Status::FailedPrecondition(
          fmt::format("upload '{}' is being completed and cannot be aborted", upload_id));
    }
  }
  Drop(upload_id);
  return Status::OK();
}

}  // namespace sluice::worker
