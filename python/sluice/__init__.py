"""Sluice for Python: the client of a Sluice cluster, an fsspec file system (``sluice://``)
and PyTorch helpers (``sluice.torch``). See docs/python.md.

    import sluice, fsspec
    c = sluice.Client()                      # the cluster from $SLUICE_CLUSTER
    c.read_all("/data/train/x.bin")
    with fsspec.open("sluice://data/train/x.bin") as f:
        f.seek(100); f.read(10)
"""
import os
import threading

from ._sluice import Client, DeadlineExceededError, ObjectStat, Reader

__all__ = ["Client", "DeadlineExceededError", "ObjectStat", "Reader", "client",
           "SluiceFileSystem"]

_lock = threading.Lock()
_clients = {}  # (pid, options) -> Client; a forked child's copies of its parent's are unused


def client(cluster=None, etcd=None, token=None, memory_cache=0, **options):
    """The Client of this process for these options, created on first use.

    A Client belongs to the process that created it (DataLoader workers are forked): this
    returns one per process and per set of options, so objects that are pickled or forked
    into workers keep only the options and call this where they run. `cluster`, `etcd` and
    `token` default to $SLUICE_CLUSTER, $SLUICE_ETCD and $SLUICE_CLUSTER_TOKEN.
    """
    env = tuple(os.environ.get(k) for k in ("SLUICE_CLUSTER", "SLUICE_ETCD",
                                             "SLUICE_CLUSTER_TOKEN"))
    key = (os.getpid(), cluster, etcd, token, memory_cache, env,
           tuple(sorted(options.items())))
    with _lock:
        c = _clients.get(key)
    if c is not None:
        return c
    # Connected outside the lock: a slow connect holds up no other caller (nor leaves a
    # held lock in a child forked meanwhile). Two racing callers keep the first one stored.
    c = Client(cluster, etcd, token, memory_cache, **options)
    with _lock:
        return _clients.setdefault(key, c)


def _after_fork_in_child():
    global _lock
    _lock = threading.Lock()  # the parent's may have been held by a thread not copied


os.register_at_fork(after_in_child=_after_fork_in_child)


try:
    import fsspec as _fsspec
except ImportError:  # fsspec is optional: the client works without it
    SluiceFileSystem = None
else:
    from .fs import SluiceFileSystem
    _fsspec.register_implementation("sluice", SluiceFileSystem, clobber=True)
