// sluice.Client: the C++ client (include/sluice/client.h) for Python.
#include <pybind11/stl.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sluice_py.h"

namespace sluice::python {

namespace {

using Handle = std::shared_ptr<ClientHandle>;

std::string EnvOr(const py::object& given, const char* name) {
  if (!given.is_none()) return given.cast<std::string>();
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::chrono::milliseconds Seconds(const py::object& s, std::chrono::milliseconds fallback) {
  if (s.is_none()) return fallback;
  return std::chrono::milliseconds(static_cast<int64_t>(s.cast<double>() * 1000));
}

Handle Connect(const py::object& cluster, const py::object& etcd, const py::object& token,
               uint64_t memory_cache, const std::string& etcd_cluster,
               const py::object& connect_timeout, const py::object& request_timeout,
               const py::object& deadline, bool ufs_fallback, int parallelism, int max_attempts) {
  ClientOptions o;
  // Given arguments name the cluster alone; otherwise the environment does (both, or
  // either).
  if (!cluster.is_none() || !etcd.is_none()) {
    o.cluster = cluster.is_none() ? "" : cluster.cast<std::string>();
    o.etcd = etcd.is_none() ? "" : etcd.cast<std::string>();
  } else {
    o.cluster = EnvOr(cluster, "SLUICE_CLUSTER");
    o.etcd = EnvOr(etcd, "SLUICE_ETCD");
  }
  o.token = EnvOr(token, "SLUICE_CLUSTER_TOKEN");
  o.memory_cache = memory_cache;
  o.etcd_cluster = etcd_cluster;
  o.connect_timeout = Seconds(connect_timeout, o.connect_timeout);
  o.request_timeout = Seconds(request_timeout, o.request_timeout);
  o.deadline = Seconds(deadline, o.deadline);
  o.ufs_fallback = ufs_fallback;
  o.parallelism = parallelism;
  o.max_attempts = max_attempts;
  if (o.cluster.empty() && o.etcd.empty()) {
    throw py::value_error(
        "no Sluice cluster named: pass cluster='host:port[,...]' or etcd='http://...', or set "
        "SLUICE_CLUSTER or SLUICE_ETCD");
  }
  Result<std::unique_ptr<Client>> c = Status::Internal("not connected");
  {
    py::gil_scoped_release release;
    c = Client::Connect(std::move(o));
  }
  return std::make_shared<ClientHandle>(Value(std::move(c)));
}

// Runs `f(client)` without the GIL and returns its value (or raises its error).
template <typename F>
auto Call(const Handle& h, F f) {
  Client& c = h->get();
  py::gil_scoped_release release;
  return f(c);
}

py::bytes Read(const Handle& h, const std::string& path, uint64_t offset, int64_t length) {
  const std::string p = NamespacePath(path);
  Client& c = h->get();
  // The bytes object is allocated whole before the read: a length far past the end of
  // the object (cat_file(p, 0, 10**12)) is clamped by a stat first, so it allocates (and
  // asks the workers for) only what exists.
  // The pieces are then read at the version that stat named (a Reader of it), so the
  // client does not stat the object a second time to clamp the read itself; should the
  // object change meanwhile, the read starts over at whatever version is current.
  constexpr int64_t kTrustedLength = 8 << 20;
  if (length >= 0 && length <= kTrustedLength) {
    uint64_t at = offset;
    return ReadBytes(static_cast<uint64_t>(length), [&](std::span<char> out) -> Result<size_t> {
      auto got = c.Read(p, at, out);
      if (got.ok()) at += *got;
      return got;
    });
  }
  // Should the object change before the first bytes arrive, the read starts over with a
  // new stat: its size decides the length, so the new version is neither cut to the old
  // size nor read short. A change after that fails (kFailedPrecondition), never mixes.
  for (int attempt = 0;; ++attempt) {
    auto st = Value(Call(h, [&](Client& cl) { return cl.Stat(p); }));
    if (st.is_dir) Check(Status::InvalidArgument(p + " is a directory"));
    const uint64_t left = st.size > offset ? st.size - offset : 0;
    const uint64_t n = length < 0 ? left : std::min(static_cast<uint64_t>(length), left);
    std::unique_ptr<Reader> known = c.Open(st);
    uint64_t at = offset;
    bool changed = false;
    py::bytes out = ReadBytes(n, [&](std::span<char> buf) -> Result<size_t> {
      auto got = known->ReadAt(at, buf);
      if (got.status().Is(StatusCode::kFailedPrecondition) && at == offset && attempt < 2) {
        changed = true;
        return size_t{0};
      }
      if (got.ok()) at += *got;
      return got;
    });
    if (!changed) return out;
  }
}

size_t ReadInto(const Handle& h, const std::string& path, uint64_t offset, const py::buffer& b) {
  const std::string p = NamespacePath(path);
  py::buffer_info info;
  const std::span<char> out = WritableBytes(b, &info);
  return Value(Call(h, [&](Client& c) -> Result<size_t> {
    size_t done = 0;
    while (done < out.size()) {
      SLUICE_ASSIGN_OR_RETURN(size_t got, c.Read(p, offset + done, out.subspan(done)));
      if (got == 0) break;
      done += got;
    }
    return done;
  }));
}

py::tuple List(const Handle& h, const std::string& path, const std::string& delimiter,
               const std::string& token, int max_keys) {
  const std::string p = NamespacePath(path);
  ListPage page = Value(Call(h, [&](Client& c) { return c.List(p, delimiter, token, max_keys); }));
  return py::make_tuple(std::move(page.objects), std::move(page.prefixes),
                        std::move(page.next_token));
}

ObjectStat Write(const Handle& h, const std::string& path, const py::buffer& data) {
  const std::string p = NamespacePath(path);
  py::buffer_info info = data.request();
  if (!PyBuffer_IsContiguous(info.view(), 'C')) throw py::value_error("data must be contiguous");
  std::string_view bytes(static_cast<const char*>(info.ptr),
                         static_cast<size_t>(info.size * info.itemsize));
  return Value(Call(h, [&](Client& c) { return c.Write(p, bytes); }));
}

// Streams a local file into `path` (nothing of it held in memory).
ObjectStat WriteFile(const Handle& h, const std::string& path, const std::string& local) {
  const std::string p = NamespacePath(path);
  return Value(Call(h, [&](Client& c) -> Result<ObjectStat> {
    std::FILE* f = std::fopen(local.c_str(), "rb");
    if (f == nullptr) return Status::NotFound(local + ": cannot open");
    struct stat st {};
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
      std::fclose(f);
      return Status::InvalidArgument(local + ": not a regular file");
    }
    auto r = c.Write(p, static_cast<uint64_t>(st.st_size),
                     [f, &local](std::span<char> out) -> Result<size_t> {
                       const size_t n = std::fread(out.data(), 1, out.size(), f);
                       if (n == 0 && std::ferror(f)) return Status::IoError(local + ": read error");
                       return n;
                     });
    std::fclose(f);
    return r;
  }));
}

py::list ClusterStatus(const Handle& h) {
  auto reports = Call(h, [](Client& c) { return c.ClusterStatus(); });
  py::list out;
  for (const auto& r : reports) {
    py::dict d;
    d["id"] = r.id;
    d["endpoint"] = r.endpoint;
    d["reachable"] = r.reachable;
    d["state"] = r.state;
    d["capacity_bytes"] = r.capacity_bytes;
    d["used_bytes"] = r.used_bytes;
    d["pages"] = r.pages;
    d["hit_ratio"] = r.hit_ratio;
    d["ufs_reads"] = r.ufs_reads;
    d["ufs_bytes"] = r.ufs_bytes;
    d["json"] = r.json;
    out.append(std::move(d));
  }
  return out;
}

}  // namespace

void BindClient(py::module_& m) {
  py::class_<ClientHandle, Handle>(m, "Client", R"doc(
A client of a Sluice cluster; thread-safe, meant to be shared by the threads of one process
(not across fork: make one per process). Paths are namespace paths: "/MOUNT/key",
"MOUNT/key" or "sluice://MOUNT/key". Errors raise FileNotFoundError, PermissionError,
ValueError, ConnectionError (DeadlineExceededError for timeouts) or OSError.

cluster: "host:port[,host:port...]" (default: $SLUICE_CLUSTER); etcd: etcd URL
(default: $SLUICE_ETCD); token: the cluster token (default: $SLUICE_CLUSTER_TOKEN);
memory_cache: bytes of client-side cache for rereads (0: none); timeouts in seconds.)doc")
      .def(py::init(&Connect), py::arg("cluster") = py::none(), py::arg("etcd") = py::none(),
           py::arg("token") = py::none(), py::arg("memory_cache") = 0, py::kw_only(),
           py::arg("etcd_cluster") = "default", py::arg("connect_timeout") = py::none(),
           py::arg("request_timeout") = py::none(), py::arg("deadline") = py::none(),
           py::arg("ufs_fallback") = true, py::arg("parallelism") = 8, py::arg("max_attempts") = 4)
      .def(
          "stat",
          [](const Handle& h, const std::string& path) {
            const std::string p = NamespacePath(path);
            return Value(Call(h, [&](Client& c) { return c.Stat(p); }));
          },
          py::arg("path"))
      .def("list", &List, py::arg("path"), py::arg("delimiter") = "/", py::arg("token") = "",
           py::arg("max_keys") = 1000,
           "One page of a listing: (objects, prefixes, next_token); next_token is '' on the "
           "last page. delimiter='' lists recursively; path '/' lists the mounts.")
      .def("read", &Read, py::arg("path"), py::arg("offset") = 0, py::arg("length") = -1,
           "Bytes [offset, offset+length) (to the end when length < 0), cut at the end.")
      .def("readinto", &ReadInto, py::arg("path"), py::arg("offset"), py::arg("buffer"),
           "Fills a writable buffer from offset; returns the bytes read.")
      .def(
          "read_all",
          [](const Handle& h, const std::string& path) {
            const std::string p = NamespacePath(path);
            std::string data = Value(Call(h, [&](Client& c) { return c.ReadAll(p); }));
            return py::bytes(data);
          },
          py::arg("path"))
      .def(
          "open",
          [](const Handle& h, const std::string& path) {
            const std::string p = NamespacePath(path);
            auto r = Value(Call(h, [&](Client& c) { return c.Open(p); }));
            return MakeReader(h, std::move(r));
          },
          py::arg("path"), "A Reader of the object's current version.")
      .def(
          "open",
          [](const Handle& h, const ObjectStat& known) {
            return MakeReader(h, h->get().Open(known));
          },
          py::arg("stat"), "A Reader of the version a stat or listing named (no request).")
      .def("write", &Write, py::arg("path"), py::arg("data"),
           "Writes a bytes-like object through the cluster; returns the new ObjectStat.")
      .def("write_file", &WriteFile, py::arg("path"), py::arg("local_path"),
           "Streams a local file into path; returns the new ObjectStat.")
      .def(
          "delete",
          [](const Handle& h, const std::string& path) {
            const std::string p = NamespacePath(path);
            Check(Call(h, [&](Client& c) { return c.Delete(p); }));
          },
          py::arg("path"))
      .def(
          "free",
          [](const Handle& h, const std::string& path) {
            const std::string p = NamespacePath(path);
            return Value(Call(h, [&](Client& c) { return c.Free(p); }));
          },
          py::arg("path"), "Drops the cached pages of path (object or directory) everywhere.")
      .def(
          "prefetch",
          [](const Handle& h, const std::vector<std::string>& paths) {
            std::vector<std::string> ps;
            ps.reserve(paths.size());
            for (const auto& p : paths) ps.push_back(NamespacePath(p));
            Check(Call(h, [&](Client& c) { return c.Prefetch(ps); }));
          },
          py::arg("paths"),
          "Asks each path's owner to load it into the cache in the background, in the order "
          "given; returns once queued. Unreachable owners are skipped.")
      .def("workers",
           [](const Handle& h) { return Call(h, [](Client& c) { return c.Workers(); }); })
      .def("cluster_status", &ClusterStatus, "Every member's /v1/status, as dicts.")
      .def("stats", [](const Handle& h) {
        ClientStats s = h->get().Stats();
        py::dict d;
        d["requests"] = s.requests;
        d["failovers"] = s.failovers;
        d["ufs_fallbacks"] = s.ufs_fallbacks;
        d["memory_cache_hits"] = s.memory_cache_hits;
        d["memory_cache_misses"] = s.memory_cache_misses;
        return d;
      });
}

}  // namespace sluice::python
