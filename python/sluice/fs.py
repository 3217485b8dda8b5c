"""SluiceFileSystem: fsspec over a Sluice cluster, protocol ``sluice://``.

Paths follow fsspec's conventions: without the protocol and without a leading slash,
``"data/train/x.bin"`` is object ``train/x.bin`` of mount ``data`` (the namespace path
``/data/train/x.bin``); ``""`` is the root, whose entries are the mounts. Directories are
implied by keys, as in an object store: ``mkdir`` does nothing and an empty directory does
not exist.

Reads go to the cluster (each path's owner worker); a file opened for reading is pinned to
the version it had when opened. A file opened for writing is buffered (in memory, spilled to
a temporary file past ``spill_size``) and written through the cluster whole on close.

Errors are Python's: FileNotFoundError, PermissionError, ValueError, ConnectionError (an
unreachable cluster), OSError.

Thread-safety: the file system may be shared by threads; an open file may not. In a process
forked after it was created (a DataLoader worker) it makes that process its own Client.
"""
import concurrent.futures
import datetime
import errno
import io
import os
import shutil
import tempfile

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.utils import stringify_path

import sluice

MiB = 1 << 20


class SluiceFileSystem(AbstractFileSystem):
    """fsspec file system over a Sluice cluster.

    cluster, etcd, token, memory_cache: as for ``sluice.Client`` (default: the environment,
    $SLUICE_CLUSTER ...); client_options: the Client's other keyword arguments (timeouts in
    seconds, ``ufs_fallback`` ...); spill_size: bytes a file being written keeps in memory
    before it spills to a temporary file.
    """

    protocol = "sluice"
    root_marker = ""
    blocksize = 1 * MiB  # the cluster's page size: what a buffered file reads at a time

    def __init__(self, cluster=None, etcd=None, token=None, memory_cache=0,
                 client_options=None, spill_size=64 * MiB, **storage_options):
        super().__init__(cluster=cluster, etcd=etcd, token=token, memory_cache=memory_cache,
                         client_options=client_options, spill_size=spill_size,
                         **storage_options)
        self._client_args = dict(cluster=cluster, etcd=etcd, token=token,
                                 memory_cache=memory_cache, **(client_options or {}))
        self.spill_size = spill_size

    @property
    def client(self):
        """This process's Client for the file system's options (see ``sluice.client``)."""
        return sluice.client(**self._client_args)

    # ---------------------------------------------------------------- paths

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        if path.startswith("sluice://"):
            path = path[len("sluice://"):]
        elif path.startswith("sluice::"):
            path = path[len("sluice::"):]
        return path.strip("/")

    @staticmethod
    def _ns(path):
        """The namespace path of a stripped path: "data/a" -> "/data/a"."""
        return "/" + path

    @staticmethod
    def _name(ns_path):
        """The fsspec name of a namespace path: "/data/a/" -> "data/a"."""
        return ns_path.strip("/")

    def unstrip_protocol(self, name):
        return name if name.startswith("sluice://") else "sluice://" + name.lstrip("/")

    # ---------------------------------------------------------------- listings

    def _entry(self, st):
        """The fsspec info dict of an ObjectStat."""
        if st.is_dir:
            return {"name": self._name(st.path), "size": 0, "type": "directory"}
        return {"name": self._name(st.path), "size": st.size, "type": "file",
                "mtime": st.mtime_ns / 1e9, "etag": st.etag, "version": st.version}

    def _list(self, path, delimiter):
        """Every entry under directory `path` (all pages). S3 "dir/" marker objects are
        directories, not files: they are left out."""
        prefix = "/" if not path else self._ns(path) + "/"
        objects, prefixes, token = [], [], ""
        while True:
            o, p, token = self.client.list(prefix, delimiter, token, 1000)
            objects += [x for x in o if not x.path.endswith("/")]
            prefixes += p
            if not token:
                return objects, prefixes

    def ls(self, path, detail=True, **kwargs):
        path = self._strip_protocol(path)
        objects, prefixes = self._list(path, "/")
        out = [{"name": self._name(p), "size": 0, "type": "directory"} for p in prefixes]
        out += [self._entry(o) for o in objects if self._name(o.path) != path]
        if not out and path:
            st = self.client.stat(self._ns(path))  # FileNotFoundError when nothing is there
            if not st.is_dir:
                out = [self._entry(st)]
        out.sort(key=lambda e: e["name"])
        return out if detail else [e["name"] for e in out]

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        """Every file under path (one recursive listing; the base class walks when
        maxdepth or withdirs ask for directories)."""
        path = self._strip_protocol(path)
        if maxdepth is not None or withdirs:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail,
                                **kwargs)
        if not path:  # the root's listing names the mounts only: every mount's files
            out = {}
            for m in self.ls("", detail=False):
                out.update(self.find(m, detail=True))
            names = sorted(out)
            return {n: out[n] for n in names} if detail else names
        out = {}
        try:
            objects, _ = self._list(path, "")
        except FileNotFoundError:
            objects = []
        for o in objects:
            e = self._entry(o)
            out[e["name"]] = e
        if not out and path:
            try:
                info = self.info(path)
                if info["type"] == "file":
                    out[path] = info
            except FileNotFoundError:
                pass
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def info(self, path, **kwargs):
        path = self._strip_protocol(path)
        if not path:
            return {"name": "", "size": 0, "type": "directory"}
        # A directory (a mount, or a prefix with keys under it) stats as one.
        return self._entry(self.client.stat(self._ns(path)))

    def exists(self, path, **kwargs):
        try:
            self.info(path)
            return True
        except FileNotFoundError:
            return False

    def ukey(self, path):
        info = self.info(path)
        return info.get("version") or info.get("etag") or str(info.get("mtime"))

    def modified(self, path):
        info = self.info(path)
        if info["type"] != "file":
            raise IsADirectoryError(errno.EISDIR, "a directory has no modification time", path)
        return datetime.datetime.fromtimestamp(info["mtime"], tz=datetime.timezone.utc)

    # ---------------------------------------------------------------- reads

    def cat_file(self, path, start=None, end=None, **kwargs):
        ns = self._ns(self._strip_protocol(path))
        c = self.client
        if start is None and end is None:
            return c.read_all(ns)
        start = start or 0
        if start < 0 or (end is not None and end < 0):
            size = c.stat(ns).size
            start = max(0, size + start) if start < 0 else start
            end = size + end if end is not None and end < 0 else end
        if end is None:
            return c.read(ns, start, -1)
        return c.read(ns, start, max(0, end - start))

    def cat_ranges(self, paths, starts, ends, max_gap=None, on_error="return", **kwargs):
        """The ranges [starts[i], ends[i]) of paths[i], read concurrently (the client
        releases the GIL); with on_error="return" a failed range is its exception."""
        if max_gap is not None:
            raise NotImplementedError("max_gap")
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        if not isinstance(starts, list):
            starts = [starts] * len(paths)
        if not isinstance(ends, list):
            ends = [ends] * len(paths)
        if len(starts) != len(paths) or len(ends) != len(paths):
            raise ValueError("paths, starts and ends differ in length")

        def one(args):
            p, s, e = args
            try:
                return self.cat_file(p, s, e)
            except Exception as ex:  # noqa: BLE001 (returned or raised below)
                if on_error == "return":
                    return ex
                raise

        if len(paths) <= 1:
            return [one(a) for a in zip(paths, starts, ends)]
        with concurrent.futures.ThreadPoolExecutor(min(16, len(paths))) as ex:
            return list(ex.map(one, zip(paths, starts, ends)))

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None,
              **kwargs):
        path = self._strip_protocol(path)
        if mode not in ("rb", "wb"):
            raise NotImplementedError(f"mode {mode!r}: objects are read, or written whole "
                                      "('rb', 'wb')")
        return SluiceFile(self, path, mode, block_size=block_size or self.blocksize,
                          autocommit=autocommit, cache_options=cache_options, **kwargs)

    # ---------------------------------------------------------------- writes

    def put_file(self, lpath, rpath, callback=None, **kwargs):
        """Streams a local file into rpath (nothing of it held in memory)."""
        if os.path.isdir(lpath):
            return  # directories are implied by keys
        st = self.client.write_file(self._ns(self._strip_protocol(rpath)), os.fspath(lpath))
        if callback is not None:
            callback.set_size(st.size)
            callback.relative_update(st.size)
        self.invalidate_cache(self._strip_protocol(rpath))

    def pipe_file(self, path, value, **kwargs):
        self.client.write(self._ns(self._strip_protocol(path)), value)

    def rm_file(self, path):
        """Deletes a file: FileNotFoundError if there is none, IsADirectoryError for a
        directory (use rm(path, recursive=True))."""
        path = self._strip_protocol(path)
        if self.client.stat(self._ns(path)).is_dir:
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        self.client.delete(self._ns(path))

    def _rm(self, path):
        self.rm_file(path)

    def rm(self, path, recursive=False, maxdepth=None):
        """Deletes files; with recursive, everything under the directories named.
        FileNotFoundError when nothing matches."""
        paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        parents = {p.rsplit("/", 1)[0] for p in paths if "/" in p}
        for p in reversed(paths):
            if p in parents:
                continue  # a directory is implied: it goes with the keys under it
            self.rm_file(p)

    def mkdir(self, path, create_parents=True, **kwargs):
        """Nothing to do: directories are implied by the keys under them."""

    def makedirs(self, path, exist_ok=False):
        """Nothing to do: directories are implied by the keys under them."""

    def rmdir(self, path):
        """Nothing to do for an empty directory (it does not exist)."""
        path = self._strip_protocol(path)
        if self.ls(path, detail=False) if self.exists(path) else False:
            raise OSError(errno.ENOTEMPTY, "directory not empty", path)

    def free(self, path):
        """Drops the cached pages of path (a file or a directory) on every worker."""
        return self.client.free(self._ns(self._strip_protocol(path)))

    def prefetch(self, paths):
        """Asks the cluster to load paths into its cache in the background, in order."""
        if isinstance(paths, str):
            paths = [paths]
        self.client.prefetch([self._ns(self._strip_protocol(p)) for p in paths])


class SluiceFile(AbstractBufferedFile):
    """A buffered, seekable file of the cluster.

    Read mode: pinned to the version its stat named at open (reads then fail with
    OSError(ESTALE) if the object is replaced); ranges come from a sluice.Reader, which reads
    ahead when the access is sequential. Write mode: bytes are kept (in memory up to the file
    system's spill_size, then in a temporary file) and written through the cluster on close
    (or on commit, without autocommit).
    """

    def __init__(self, fs, path, mode="rb", **kwargs):
        self._reader = None
        self._spill = None
        self._pending = None
        if mode == "rb":
            st = fs.client.stat(fs._ns(path))
            if st.is_dir:
                raise IsADirectoryError(errno.EISDIR, "is a directory", path)
            self._reader = fs.client.open(st)
            kwargs["size"] = st.size
            self.details = fs._entry(st)
        super().__init__(fs, path, mode, **kwargs)

    def _fetch_range(self, start, end):
        r = self._reader
        r.seek(start)
        return r.read(end - start)

    def _upload_chunk(self, final=False):
        if not final:
            if self.buffer.tell() < self.fs.spill_size and self._spill is None:
                return False  # keep buffering
            if self._spill is None:
                self._spill = tempfile.NamedTemporaryFile(prefix="sluice-upload-")
            self.buffer.seek(0)
            shutil.copyfileobj(self.buffer, self._spill)
            return True  # the buffer was spilled: fsspec starts a new one
        if self.autocommit:
            self._write(self.buffer)
        else:
            self._pending = self.buffer  # fsspec replaces self.buffer next
        return True

    def _write(self, buffer):
        ns = self.fs._ns(self.path)
        if self._spill is None:
            self.fs.client.write(ns, buffer.getbuffer())
            return
        buffer.seek(0)
        shutil.copyfileobj(buffer, self._spill)
        self._spill.flush()
        try:
            self.fs.client.write_file(ns, self._spill.name)
        finally:
            self._spill.close()
            self._spill = None

    def commit(self):
        """Writes the file (opened without autocommit) once it is closed."""
        if self._pending is not None:
            buffer, self._pending = self._pending, None
            self._write(buffer)

    def discard(self):
        self._pending = None
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def close(self):
        try:
            super().close()
        finally:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
