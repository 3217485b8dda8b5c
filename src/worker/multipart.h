// MultipartUploads: S3 multipart uploads received by a worker. Parts are staged as files
// under `<staging_dir>/uploads/<upload id>/` (never held in memory); Complete streams
// them, in order, through WriteThrough into the under store (which uses its own multipart
// upload for large objects) and caches the pages on the way. Abort deletes the staging.
// Part ETags are the MD5 of the part, as S3's are.
//
// Upload state lives in this process: a restarted worker forgets open uploads (clients
// see NoSuchUpload and start again); their staging directories are removed at start.
// Uploads idle for 24 hours are dropped; at most 10,000 may be open at once.
//
// Thread-safety: all methods are thread-safe; one upload's parts may arrive concurrently.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

#include "common/units.h"
#include "net/http.h"
#include "worker/write_through.h"

namespace sluice::worker {

struct PartInfo {
  int number = 0;
  uint64_t size = 0;
  std::string etag;  // MD5 hex
  int64_t mtime_ns = 0;
};

class MultipartUploads {
 public:
  static constexpr uint64_t kMinPartBytes = 5 * kMiB;  // S3's least size of a part but the last

  // Upload ids start with `creator` (UploadIdPrefix of this member's id; "" for a cluster
  // of one): the other members route an upload's requests here, whatever the ring says
  // by then (a member joined, or the ring's owner was down at Create).
  MultipartUploads(WriteThrough* writes, std::string staging_dir, std::string creator = "");

  // The prefix of the upload ids a member with `member_id` makes ("<hex of the id>-"), and
  // the member id an upload id names (nullopt when it names none).
  static std::string UploadIdPrefix(std::string_view member_id);
  static std::optional<std::string> CreatorOf(std::string_view upload_id);

  // Returns the new upload id. The object will keep `headers` (ufs::ObjectHeaders).
  Result<std::string> Create(std::string_view path, const ufs::ObjectHeaders& headers = {});
  // Stores part `number` (1..10000) read from `body`; returns its ETag (the part's MD5, in
  // hex). Replaces an earlier part with the same number. kNotFound for an unknown upload
  // (NoSuchUpload). With `expected_md5_hex`, a part whose MD5 differs is not stored
  // (kInvalidArgument "BadDigest: ...") and an earlier part with its number stays.
  Result<std::string> UploadPart(std::string_view upload_id, std::string_view path, int number,
                                 net::BodyReader& body, uint64_t max_part_bytes,
                                 std::string_view expected_md5_hex = {});
  Result<std::vector<PartInfo>> ListParts(std::string_view upload_id, std::string_view path);
  // The open uploads of paths starting with `path_prefix` ("/bucket/dir/"), by path then
  // upload id: (path, upload id, created ns).
  struct OpenUpload {
    std::string path, upload_id;
    int64_t created_ns = 0;
  };
  std::vector<OpenUpload> ListUploads(std::string_view path_prefix);
  // Completes with the named parts (ascending, ETags must match: InvalidPart otherwise;
  // every part but the last at least kMinPartBytes: EntityTooSmall otherwise).
  // `progress` (when set) is called at least every second while the parts stream or while
  // this call waits for another Complete of the same upload (for keep-alive bytes).
  // Idempotent, as S3's: a Complete of an upload being completed waits for that one and
  // answers its result; one of an upload completed in the last kCompletedKept answers the
  // object it made (a client whose read timed out retries, and must not get NoSuchUpload).
  Result<ufs::ObjectInfo> Complete(std::string_view upload_id, std::string_view path,
                                   const std::vector<std::pair<int, std::string>>& parts,
                                   const std::function<void()>& progress = {});
  static constexpr std::chrono::minutes kCompletedKept{10};
  static constexpr size_t kMaxCompletedKept = 10000;  // answers kept at most (oldest dropped)
  Status Abort(std::string_view upload_id, std::string_view path);

 private:
  struct State {
    std::string path;
    std::map<int, PartInfo> parts;
    bool completing = false;  // a Complete is streaming the parts: no new parts, no abort
    int64_t created_ns = 0;
    ufs::ObjectHeaders headers;  // given at Create, stored with the object
  };
  std::string DirOf(std::string_view id) const;
  // Streams the staged parts into the under store. REQUIRES: state marked completing.
  Result<ufs::ObjectInfo> CompleteLocked(std::string_view upload_id, std::string_view path,
                                         const std::vector<std::pair<int, std::string>>& parts,
                                         State& state, const std::function<void()>& progress);
  // Forgets an upload and removes its staging.
  void Drop(std::string_view upload_id);
  // Drops uploads with no activity for a day (clients that never completed nor aborted).
  void SweepAbandoned();

  WriteThrough* writes_;
  const std::string root_;  // <staging>/uploads
  const std::string creator_;  // UploadIdPrefix of this member, or ""
  std::mutex mu_;
  std::condition_variable completed_cv_;  // a Complete ended (ok or not)
  std::map<std::string, State, std::less<>> uploads_;  // GUARDED_BY(mu_)
  struct Completed {
    std::string path;
    ufs::ObjectInfo info;
    int64_t at_ns = 0;
  };
  std::map<std::string, Completed, std::less<>> completed_;  // GUARDED_BY(mu_), kCompletedKept
};

}  // namespace sluice::worker
