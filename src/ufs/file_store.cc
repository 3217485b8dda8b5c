// file:// under store: keys are paths below a root directory. Every path is resolved
// with openat2(RESOLVE_BENEATH), so neither ".." nor a symlink can reach outside the
// root. Writes go to a temp file beside the target and are renamed into place on Close.
//
// ETags: a file written through this store carries its MD5 in the extended attribute
// user.sluice.etag ("<md5> <size> <mtime_ns>"), so it has an S3-style ETag (clients such as
// s3cmd check it against the MD5 of what they uploaded). The attribute counts only while
// the file's size and mtime still match it: a file changed by anything else, or never
// written through Sluice, has no ETag and its version is its size and mtime.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>

#include "common/digest.h"
#include "ufs/errno_status.h"
#include "ufs/factory.h"

namespace sluice::ufs {
namespace {

constexpr std::string_view kTempPrefix = kFileTempPrefix;
constexpr const char* kEtagXattr = "user.sluice.etag";

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// An extended attribute of an open file (O_PATH descriptors included), into `buf`;
// returns its length, or -1.
ssize_t GetXattr(int fd, const char* name, char* buf, size_t size) {
  ssize_t n = fgetxattr(fd, name, buf, size);
  if (n < 0 && errno == EBADF) {  // an O_PATH descriptor: go through its /proc link
    std::string link = fmt::format("/proc/self/fd/{}", fd);
    n = getxattr(link.c_str(), name, buf, size);
  }
  return n;
}

// The MD5 recorded on an open file, if it still describes the file (same size and mtime).
std::string RecordedEtag(int fd, const struct stat& st) {
  char buf[128];
  ssize_t n = GetXattr(fd, kEtagXattr, buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  buf[n] = '\0';
  char md5[33] = {0};
  unsigned long long size = 0;  // NOLINT(runtime/int)
  long long mtime = 0;          // NOLINT(runtime/int)
  if (std::sscanf(buf, "%32s %llu %lld", md5, &size, &mtime) != 3) return "";
  if (size != static_cast<unsigned long long>(st.st_size)) return "";  // NOLINT(runtime/int)
  if (mtime != MtimeNs(st)) return "";
  return md5;
}

// The stored headers (ObjectHeaders) of an object written through Sluice are kept in this
// attribute as "<size> <mtime_ns>\n" then one "name: value\n" per header; they are
// trusted only while size and mtime match (a file rewritten beside Sluice has none).
constexpr const char* kHeadersXattr = "user.sluice.headers";

std::string EncodeHeaders(const ObjectHeaders& headers, const struct stat& st) {
  std::string out = fmt::format("{} {}\n", st.st_size, MtimeNs(st));
  for (const auto& [name, value] : headers) out += fmt::format("{}: {}\n", name, value);
  return out;
}

std::shared_ptr<const ObjectHeaders> RecordedHeaders(int fd, const struct stat& st) {
  auto out = std::make_shared<ObjectHeaders>();
  char buf[16 * 1024];
  ssize_t n = GetXattr(fd, kHeadersXattr, buf, sizeof(buf));
  if (n <= 0) return out;
  std::string_view text(buf, static_cast<size_t>(n));
  size_t eol = text.find('\n');
  if (eol == std::string_view::npos ||
      text.substr(0, eol) != fmt::format("{} {}", st.st_size, MtimeNs(st))) {
    return out;
  }
  for (size_t at = eol + 1; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    // Only names a PUT could have stored: an attribute set beside Sluice is not a way to
    // add arbitrary response headers.
    if (size_t colon = line.find(": "); colon != std::string_view::npos &&
                                        IsStoredHeader(line.substr(0, colon))) {
      out->emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
    }
    at = end + 1;
  }
  return out;
}

// Opens `rel` beneath `root_fd`; never follows anything out of the root.
int OpenBeneath(int root_fd, const std::string& rel, uint64_t flags, mode_t mode = 0) {
  struct open_how how = {};
  how.flags = flags | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  const char* path = rel.empty() ? "." : rel.c_str();
  return static_cast<int>(syscall(SYS_openat2, root_fd, path, &how, sizeof(how)));
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

std::string DirOf(const std::string& key) {
  size_t p = key.rfind('/');
  return p == std::string::npos ? "" : key.substr(0, p);
}

std::string BaseOf(const std::string& key) {
  size_t p = key.rfind('/');
  return p == std::string::npos ? key : key.substr(p + 1);
}

class FileStore;

class FileWriter : public Writer {
 public:
  FileWriter(Fd dir, std::string tmp_name, std::string final_name, Fd file, FileStore* store,
             std::string key, ObjectHeaders headers)
      : dir_(std::move(dir)),
        tmp_name_(std::move(tmp_name)),
        final_name_(std::move(final_name)),
        file_(std::move(file)),
        store_(store),
        key_(std::move(key)),
        headers_(std::move(headers)) {}
  ~FileWriter() override { Abort(); }

  Status Append(std::string_view data) override;
  Result<ObjectInfo> Close() override;
  void Abort() override {
    if (!done_) {
      done_ = true;
      unlinkat(dir_.get(), tmp_name_.c_str(), 0);
    }
  }

 private:
  Fd dir_;
  std::string tmp_name_, final_name_;
  Fd file_;
  FileStore* store_;
  std::string key_;
  ObjectHeaders headers_;
  Md5 md5_;
  bool done_ = false;
};

class FileStore : public UnderStore {
 public:
  FileStore(std::string uri, Fd root) : uri_(std::move(uri)), root_(std::move(root)) {}

  const std::string& Uri() const override { return uri_; }

  Result<ObjectInfo> Stat(std::string_view key) override {
    stats_++;
    SLUICE_ASSIGN_OR_RETURN(std::string k, Clean(key));
    Fd fd(OpenBeneath(root_.get(), k, O_PATH));
    if (!fd.ok()) return Err(errno, "stat", k);
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return Err(errno, "stat", k);
    return InfoOf(k, st, fd.get());
  }

  // Keys come from a walk in key order that starts after the token and stops once the
  // page is full, so a page costs the directories on its way and the objects it names,
  // not the whole tree below the prefix (paging through N keys was O(N^2) stats).
  Result<ListPage> List(const ListOptions& o) override {
    lists_++;
    if (o.max_keys <= 0) return Status::InvalidArgument("max_keys must be positive");
    ListPage page;
    const std::string after = std::max(o.start_after, o.continuation_token);
    int n = 0;
    auto take = [&](std::string k, ObjectInfo info) -> bool {
      if (!after.empty() && k <= after) return true;
      std::string prefix_entry;
      if (!o.delimiter.empty()) {
        size_t pos = k.find(o.delimiter, o.prefix.size());
        if (pos != std::string::npos) prefix_entry = k.substr(0, pos + o.delimiter.size());
      }
      if (!prefix_entry.empty() && !page.common_prefixes.empty() &&
          page.common_prefixes.back() == prefix_entry) {
        return true;
      }
      if (!after.empty() && !prefix_entry.empty() && prefix_entry <= after) return true;
      if (n == o.max_keys) {
        page.truncated = true;
        return false;  // one more than fits: the page is full
      }
      if (!prefix_entry.empty()) {
        page.common_prefixes.push_back(prefix_entry);
        page.next_token = prefix_entry;
      } else {
        page.objects.push_back(std::move(info));
        page.next_token = std::move(k);
      }
      ++n;
      return true;
    };
    // From the deepest directory the prefix names; with delimiter "/" one level only.
    bool stopped = false;
    std::vector<DirId> ancestors;
    SLUICE_RETURN_IF_ERROR(Walk(DirOf(o.prefix), o.delimiter != "/", o.prefix, after,
                                &ancestors, take, &stopped));
    if (!page.truncated) page.next_token.clear();
    return page;
  }

  Result<std::string> Read(std::string_view key, uint64_t offset, uint64_t length,
                           std::string_view expected_version) override {
    return ReadImpl(key, offset, length, expected_version, nullptr);
  }

  Result<ReadResult> ReadWithInfo(std::string_view key, uint64_t offset,
                                  uint64_t length) override {
    ReadResult out;
    SLUICE_ASSIGN_OR_RETURN(out.data, ReadImpl(key, offset, length, {}, &out.info));
    return out;
  }

  // Reads through one open descriptor, so the bytes and *info (if wanted) agree.
  Result<std::string> ReadImpl(std::string_view key, uint64_t offset, uint64_t length,
                               std::string_view expected_version, ObjectInfo* info) {
    reads_++;
    SLUICE_ASSIGN_OR_RETURN(std::string k, Clean(key));
    // O_NONBLOCK: opening a FIFO would wait for a writer (for ever); it is refused below.
    Fd fd(OpenBeneath(root_.get(), k, O_RDONLY | O_NONBLOCK));
    if (!fd.ok()) return Err(errno, "open", k);
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return Err(errno, "stat", k);
    if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(fmt::format("'{}' is a directory", k));
    if (!S_ISREG(st.st_mode)) {
      return Status::InvalidArgument(fmt::format("'{}' is not a regular file", k));
    }
    if (!expected_version.empty()) {
      std::string v = InfoOf(k, st, fd.get()).Version();
      if (v != expected_version) {
        return Status::FailedPrecondition(
            fmt::format("{}: '{}' changed (version {} != {})", uri_, k, v, expected_version));
      }
    }
    if (info != nullptr) *info = InfoOf(k, st, fd.get());
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (offset >= size) return std::string();
    std::string out(std::min(length, size - offset), '\0');
    size_t done = 0;
    while (done < out.size()) {
      ssize_t r =
          pread(fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Err(errno, "read", k);
      if (r == 0) break;  // truncated under us: return what exists
      done += static_cast<size_t>(r);
    }
    out.resize(done);
    bytes_read_ += done;
    return out;
  }

  using UnderStore::OpenWrite;
  Result<std::unique_ptr<Writer>> OpenWrite(std::string_view key,
                                            const ObjectHeaders& headers) override {
    writes_++;
    SLUICE_ASSIGN_OR_RETURN(std::string k, Clean(key));
    if (k.empty() || k.back() == '/') {
      return Status::InvalidArgument(fmt::format("cannot write '{}': not an object key", key));
    }
    SLUICE_ASSIGN_OR_RETURN(Fd dir, MakeDirs(DirOf(k)));
    static std::atomic<uint64_t> counter{0};
    std::string tmp = fmt::format("{}{}-{}", kTempPrefix, getpid(), counter++);
    Fd f(openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!f.ok()) return Err(errno, "create", k);
    return std::unique_ptr<Writer>(
        new FileWriter(std::move(dir), tmp, BaseOf(k), std::move(f), this, k, headers));
  }

  Status Delete(std::string_view key) override {
    deletes_++;
    SLUICE_ASSIGN_OR_RETURN(std::string k, Clean(key));
    std::string dir = DirOf(k);
    Fd d(OpenBeneath(root_.get(), dir, O_PATH | O_DIRECTORY));
    if (!d.ok()) return Err(errno, "delete", k);
    if (unlinkat(d.get(), BaseOf(k).c_str(), 0) != 0) return Err(errno, "delete", k);
    // Objects have no directories: prune parents that became empty (not the root).
    while (!dir.empty()) {
      if (unlinkat(root_.get(), dir.c_str(), AT_REMOVEDIR) != 0) break;
      dir = DirOf(dir);
    }
    return Status::OK();
  }

  UnderStoreStats GetStats() const override {
    UnderStoreStats s;
    s.stats = stats_;
    s.lists = lists_;
    s.reads = reads_;
    s.writes = writes_;
    s.deletes = deletes_;
    s.bytes_read = bytes_read_;
    s.bytes_written = bytes_written_;
    s.errors = errors_;
    return s;
  }

  void AddWritten(uint64_t n) { bytes_written_ += n; }
  Status Err(int err, std::string_view op, std::string_view key) {
    errors_++;
    return ErrnoStatus(err, fmt::format("{} {}/{}", op, uri_, key));
  }
  // `fd` (optional) is the open file, to read its recorded ETag.
  ObjectInfo InfoOf(const std::string& key, const struct stat& st, int fd = -1) const {
    ObjectInfo info;
    info.key = key;
    info.is_dir = S_ISDIR(st.st_mode);
    info.size = info.is_dir ? 0 : static_cast<uint64_t>(st.st_size);
    info.mtime_ns = MtimeNs(st);
    if (fd >= 0 && S_ISREG(st.st_mode)) {
      info.etag = RecordedEtag(fd, st);
      info.headers = RecordedHeaders(fd, st);
    }
    return info;
  }

 private:
  Result<std::string> Clean(std::string_view key) {
    SLUICE_ASSIGN_OR_RETURN(std::string k, NormalizeKey(key));
    if (!k.empty() && k.back() == '/') k.pop_back();
    return k;
  }

  // Creates the directories of `dir` beneath the root; returns the last one opened.
  Result<Fd> MakeDirs(const std::string& dir) {
    Fd cur(OpenBeneath(root_.get(), "", O_PATH | O_DIRECTORY));
    if (!cur.ok()) return Err(errno, "open root", "");
    size_t i = 0;
    while (i < dir.size()) {
      size_t j = dir.find('/', i);
      if (j == std::string::npos) j = dir.size();
      std::string seg = dir.substr(i, j - i);
      if (mkdirat(cur.get(), seg.c_str(), 0755) != 0 && errno != EEXIST) {
        return Err(errno, "mkdir", dir.substr(0, j));
      }
      Fd next(OpenBeneath(root_.get(), dir.substr(0, j), O_PATH | O_DIRECTORY));
      if (!next.ok()) return Err(errno, "mkdir", dir.substr(0, j));
      cur = std::move(next);
      i = j + 1;
    }
    return cur;
  }

  // Calls `emit(key, info)` for the objects below `dir` whose keys start with `prefix`, in
  // key order (a directory's names sorted as "name/", which is where its keys sort), until
  // it returns false (then *stopped). Subdirectories are entered when `recursive`;
  // otherwise they are emitted as "<dir>/" placeholders (ObjectInfo with is_dir) that
  // delimiter listing groups. Subtrees whose keys all sort at or before `after` are not
  // entered, and an object's info (an open, xattrs) is read only when it is emitted.
  // `ancestors` are the directories (device, inode) the walk is inside: a directory
  // reached again through a symlink ("self -> .") is not entered, or the walk would not
  // end.
  using DirId = std::pair<dev_t, ino_t>;
  using Emit = std::function<bool(std::string key, ObjectInfo info)>;
  Status Walk(const std::string& dir, bool recursive, const std::string& prefix,
              const std::string& after, std::vector<DirId>* ancestors, const Emit& emit,
              bool* stopped) {
    int fd = OpenBeneath(root_.get(), dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::OK();  // empty listing
      return Err(errno, "list", dir);
    }
    struct stat self {};
    if (fstat(fd, &self) == 0) {
      const DirId id{self.st_dev, self.st_ino};
      if (std::find(ancestors->begin(), ancestors->end(), id) != ancestors->end()) {
        close(fd);
        return Status::OK();  // a loop
      }
    }
    DIR* dp = fdopendir(fd);  // owns fd from here on; closedir closes it
    if (dp == nullptr) {
      int err = errno;
      close(fd);
      return Err(err, "list", dir);
    }
    struct Entry {
      std::string key;
      std::string order;  // key, or key + "/" for a directory
      bool is_dir = false;
      bool via_link = false;
    };
    std::vector<Entry> entries;
    while (struct dirent* e = readdir(dp)) {
      std::string name = e->d_name;
      if (name == "." || name == ".." || name.starts_with(kTempPrefix)) continue;
      std::string key = dir.empty() ? name : dir + "/" + name;
      // Prune entries that cannot match the prefix (neither it nor a parent of it).
      if (!key.starts_with(prefix) && !prefix.starts_with(key + "/")) continue;
      unsigned char type = e->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(dirfd(dp), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG
                                              : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
      }
      bool via_link = false;
      if (type == DT_LNK) {
        // Follow only links that stay beneath the root.
        Fd t(OpenBeneath(root_.get(), key, O_PATH));
        struct stat st;
        if (!t.ok() || fstat(t.get(), &st) != 0) continue;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
        via_link = true;
      }
      if (type != DT_DIR && type != DT_REG) continue;
      Entry entry{key, type == DT_DIR ? key + "/" : key, type == DT_DIR, via_link};
      entries.push_back(std::move(entry));
    }
    closedir(dp);
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.order < b.order; });
    ancestors->push_back({self.st_dev, self.st_ino});
    Status result;
    for (const Entry& e : entries) {
      if (e.is_dir) {
        // Every key below sorts after "dir/" and before anything "dir/" is not a prefix of.
        if (!after.empty() && after > e.order && !after.starts_with(e.order)) continue;
        if (recursive || !e.key.starts_with(prefix)) {  // a parent of the prefix: descend
          result = Walk(e.key, recursive, prefix, after, ancestors, emit, stopped);
          if (!result.ok() || *stopped) break;
          continue;
        }
        struct stat st;
        Fd d(OpenBeneath(root_.get(), e.key, O_PATH));
        if (!d.ok() || fstat(d.get(), &st) != 0) continue;
        if (!emit(e.order, InfoOf(e.order, st))) {
          *stopped = true;
          break;
        }
        continue;
      }
      if (!e.key.starts_with(prefix) || (!after.empty() && e.key <= after)) continue;
      const int nofollow = e.via_link ? 0 : O_NOFOLLOW;
      Fd f(OpenBeneath(root_.get(), e.key, O_RDONLY | O_NONBLOCK | nofollow));
      if (!f.ok() && (errno == EACCES || errno == EPERM)) {
        // Unreadable (mode 000): still an object, listed from its stat (no xattrs).
        f = Fd(OpenBeneath(root_.get(), e.key, O_PATH | nofollow));
      }
      if (!f.ok()) {
        if (errno == ENOENT) continue;  // deleted since the directory was read
        result = Err(errno, "list", e.key);  // out of descriptors, say: not a silent gap
        break;
      }
      struct stat st;
      if (fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (!emit(e.key, InfoOf(e.key, st, f.get()))) {
        *stopped = true;
        break;
      }
    }
    ancestors->pop_back();
    return result;
  }

  const std::string uri_;
  Fd root_;
  std::atomic<uint64_t> stats_{0}, lists_{0}, reads_{0}, writes_{0}, deletes_{0};
  std::atomic<uint64_t> bytes_read_{0}, bytes_written_{0}, errors_{0};
};

Status FileWriter::Append(std::string_view data) {
  if (done_) return Status::FailedPrecondition("writer already closed");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = write(file_.get(), data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      Status s = store_->Err(errno, "write", key_);
      Abort();
      return s;
    }
    off += static_cast<size_t>(w);
  }
  md5_.Update(data);
  store_->AddWritten(data.size());
  return Status::OK();
}

Result<ObjectInfo> FileWriter::Close() {
  if (done_) return Status::FailedPrecondition("writer already closed");
  // Durable once Close returns: the data and its xattrs synced (fsync, not fdatasync:
  // xattrs are metadata), then the rename, then the directory that holds it.
  struct stat before;
  if (fstat(file_.get(), &before) != 0) {
    Status s = store_->Err(errno, "commit", key_);
    Abort();
    return s;
  }
  // Best effort: without xattr support the object simply has no ETag. (Setting an xattr
  // changes ctime, not mtime: the ETag's mtime stays the file's.)
  std::string etag = fmt::format("{} {} {}", md5_.HexDigest(), before.st_size, MtimeNs(before));
  (void)fsetxattr(file_.get(), kEtagXattr, etag.data(), etag.size(), 0);
  if (!headers_.empty()) {  // best effort too: without xattrs the object keeps none
    const std::string text = EncodeHeaders(headers_, before);
    (void)fsetxattr(file_.get(), kHeadersXattr, text.data(), text.size(), 0);
  }
  if (fsync(file_.get()) != 0 ||
      renameat(dir_.get(), tmp_name_.c_str(), dir_.get(), final_name_.c_str()) != 0) {
    Status s = store_->Err(errno, "commit", key_);
    Abort();
    return s;
  }
  done_ = true;
  // The rename itself survives a crash only once the directory is synced (dir_ is an
  // O_PATH descriptor: fsync needs one opened for reading).
  Fd sync_dir(openat(dir_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!sync_dir.ok() || fsync(sync_dir.get()) != 0) return store_->Err(errno, "sync directory of", key_);
  struct stat st;
  if (fstat(file_.get(), &st) != 0) return store_->Err(errno, "stat", key_);
  return store_->InfoOf(key_, st, file_.get());
}

}  // namespace

Result<std::unique_ptr<UnderStore>> OpenFileStore(std::string_view uri) {
  if (!uri.starts_with("file://")) return Status::InvalidArgument("not a file:// URI");
  std::string path(uri.substr(7));
  if (path.empty() || path[0] != '/') {
    return Status::InvalidArgument(fmt::format("'{}': file:// needs an absolute path", uri));
  }
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  Fd root(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.ok()) return ErrnoStatus(errno, fmt::format("open {}", uri));
  return std::unique_ptr<UnderStore>(new FileStore("file://" + path, std::move(root)));
}

}  // namespace sluice::ufs
