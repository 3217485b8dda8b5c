"""Black-box tests of `sluice mount` (FUSE): a real 3-worker cluster over a real s3rver,
read and written through the kernel with ordinary file calls, cp and a PyTorch DataLoader.
Needs root (FUSE)."""
import errno
import hashlib
import json
import os
import random
import signal
import subprocess
import tempfile
import textwrap
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import SLUICE, Cluster, free_port, s3_client, upload, yaml_config

MiB = 1 << 20
N_FILES = 2000
PREFIX = "fuse"  # every object of this module lives under it (the bucket may be shared)
BIG_SIZES = [8 * MiB + 13, 17 * MiB + 5, 29 * MiB + 1]

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
                                reason="FUSE mounts need root and /dev/fuse here")


# ---------------------------------------------------------------- helpers


def mounted(mountpoint):
    """Whether /proc/mounts lists mountpoint (any file system)."""
    mountpoint = os.path.realpath(mountpoint)
    with open("/proc/mounts") as f:
        return any(line.split()[1] == mountpoint for line in f)


def lazy_unmount(mountpoint):
    if mounted(mountpoint):
        subprocess.run(["umount", "-l", mountpoint], capture_output=True, timeout=30)


class Mount:
    """A `sluice mount MOUNTPOINT -f` process we own; usable once the mount is in
    /proc/mounts and its root lists the cluster's mounts."""

    def __init__(self, env, mountpoint=None, options=(), expect=("data",), timeout=20):
        self.dir = mountpoint or tempfile.mkdtemp(prefix="sluice-mnt-")
        self.log = tempfile.NamedTemporaryFile(prefix="sluice-mount-", suffix=".log",
                                               delete=False)
        args = [SLUICE, "mount"]
        for o in options:
            args += ["-o", o]
        args += [self.dir, "-f"]  # options first, as with mount(8)
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sluice mount exited ({self.proc.returncode}): {self.logs()}")
            if mounted(self.dir):
                try:
                    if set(expect) <= set(os.listdir(self.dir)):
                        return
                except OSError:
                    pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError(f"the mount did not come up: {self.logs()}")
            time.sleep(0.05)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def logs(self):
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        """SIGTERM (a clean unmount), kill -9 if that hangs, then umount -l if still there."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        lazy_unmount(self.dir)

    def cleanup(self):
        """stop(), then remove the mount point (if empty) and the log."""
        self.stop()
        try:
            os.rmdir(self.dir)
        except OSError:
            pass
        os.unlink(self.log.name)


def mount_env(cluster):
    env = cluster.env()
    env.pop("SLUICE_ETCD", None)
    return env


def expect_errno(codes, fn, *args, **kwargs):
    codes = codes if isinstance(codes, tuple) else (codes,)
    with pytest.raises(OSError) as e:
        fn(*args, **kwargs)
    assert e.value.errno in codes, f"{fn.__name__}: {e.value!r}, want {codes}"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def source(s3rver):
    """2,000 files of 0 B to 16 KiB in 20 directories under fuse/tree/, and three large
    files (8-29 MiB, several 1 MiB placement blocks each) under fuse/big/, uploaded straight
    to s3rver. Maps relative paths (under the mount "data") to bytes."""
    rng = random.Random(11)
    objects = {f"{PREFIX}/tree/d{i % 20}/f{i}.bin": rng.randbytes(rng.randint(0, 16 * 1024))
               for i in range(N_FILES)}
    for i, size in enumerate(BIG_SIZES):
        objects[f"{PREFIX}/big/b{i}.bin"] = rng.randbytes(size)
    # s3rver 3.7.1 leaves out of a delimited listing a common prefix with no object directly
    # below it (fuse/ and fuse/tree/ here): give each level one.
    objects[f"{PREFIX}/README"] = b"fuse test data\n"
    objects[f"{PREFIX}/tree/README"] = b"2,000 small files\n"
    upload(s3rver, objects)
    return objects


@pytest.fixture(scope="module")
def config_file():
    with yaml_config("placement:\n  block_size: 1MiB\n", prefix="sluice-fuse-cfg-") as path:
        yield path


def make_cluster(s3rver, config_file):
    return Cluster({"data": s3rver.uri()}, n=3, extra=["--config", config_file])


@pytest.fixture(scope="module")
def cluster(s3rver, source, config_file):
    c = make_cluster(s3rver, config_file)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def mnt(cluster):
    m = Mount(mount_env(cluster))
    yield m
    m.cleanup()


@pytest.fixture()
def mountpoint():
    d = tempfile.mkdtemp(prefix="sluice-mnt-")
    yield d
    lazy_unmount(d)
    try:
        os.rmdir(d)
    except OSError:
        pass


# ---------------------------------------------------------------- reads


def test_tree_listing_and_bytes_match_the_source(mnt, source):
    assert "data" in os.listdir(mnt.dir)
    top = mnt.path("data", PREFIX)
    assert sorted(os.listdir(top)) == ["README", "big", "tree"]
    listed = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in filenames:
            p = os.path.join(dirpath, name)
            st = os.stat(p)
            assert st.st_mode & 0o170000 == 0o100000, p
            listed[os.path.relpath(p, mnt.path("data"))] = st.st_size
    assert listed == {k: len(v) for k, v in source.items()}
    for rel, data in source.items():
        with open(mnt.path("data", rel), "rb") as f:
            assert f.read() == data, rel


def test_a_cached_open_mount_walks_the_tree_twice_with_one_set_of_stats(cluster, source):
    """-o cached_open: opens trust the stats the kernel was given (from readdirplus or
    lookup), so a second walk asks the workers nothing. (Kernel entries are kept for an hour:
    with the default, the metadata TTL, a walk slower than it would look names up again.)"""
    m = Mount(mount_env(cluster), options=["cached_open", "attr_timeout=1h"])
    try:
        for walk in range(2):
            if walk == 1:
                before = cluster.total("sluice_http_requests_total")
            for dirpath, _, filenames in os.walk(m.path("data", PREFIX, "tree")):
                for name in filenames:
                    p = os.path.join(dirpath, name)
                    with open(p, "rb") as f:
                        assert f.read() == source[os.path.relpath(p, m.path("data"))], p
        # The second walk: listings (one per directory, 21) and nothing per file.
        delta = cluster.total("sluice_http_requests_total") - before
        assert delta < 100, delta
    finally:
        m.cleanup()


def test_statfs_shows_the_clusters_capacity_and_use(mnt, cluster):
    """df on the mount: the capacity and free space of the whole cluster's cache (in 1 MiB
    blocks), not of any local disk."""
    st = os.statvfs(mnt.dir)
    capacity = cluster.total("sluice_page_store_capacity_bytes")
    assert capacity > 0
    assert st.f_frsize == MiB and st.f_blocks == capacity // MiB
    assert 0 < st.f_bfree <= st.f_blocks and st.f_bavail == st.f_bfree


def test_open_ttl_bounds_how_long_an_open_trusts_a_stat(cluster):
    """An open trusts the stat the cluster gave for a file for open_ttl (then asks again),
    and a listing that shows another version makes the next open ask at once, even with
    attributes cached for an hour."""
    s3 = s3_client(cluster.workers[0].endpoint)
    s3.put_object(Bucket="data", Key="fuse-ttl/a.bin", Body=b"first")
    s3.put_object(Bucket="data", Key="fuse-ttl/b.bin", Body=b"first")
    m = Mount(mount_env(cluster), options=["open_ttl=2s", "attr_timeout=1h"])
    try:
        a, b = m.path("data", "fuse-ttl", "a.bin"), m.path("data", "fuse-ttl", "b.bin")
        for p in (a, b):
            with open(p, "rb") as f:
                assert f.read() == b"first"
        s3.put_object(Bucket="data", Key="fuse-ttl/a.bin", Body=b"secnd")  # same size
        s3.put_object(Bucket="data", Key="fuse-ttl/b.bin", Body=b"secnd")
        # a: once open_ttl has passed, the open asks and sees the new version.
        time.sleep(2.5)
        deadline = time.time() + 3  # the other members hear of the write in the background
        while True:
            with open(a, "rb") as f:
                got = f.read()
            assert got in (b"first", b"secnd")
            if got == b"secnd" or time.time() > deadline:
                break
            time.sleep(0.1)
        assert got == b"secnd"
        # b: a listing that shows the new version drops the trusted stat.
        while True:
            names = os.listdir(m.path("data", "fuse-ttl"))
            with open(b, "rb") as f:
                got = f.read()
            if got == b"secnd" or time.time() > deadline:
                break
            time.sleep(0.1)
        assert sorted(names) == ["a.bin", "b.bin"] and got == b"secnd"
    finally:
        m.cleanup()


def test_random_preads_in_large_files_match_the_source(mnt, source):
    rng = random.Random(5)
    names = [f"{PREFIX}/big/b{i}.bin" for i in range(len(BIG_SIZES))]
    fds = [os.open(mnt.path("data", n), os.O_RDONLY) for n in names]
    try:
        for i in range(10000):
            if i % 2000 == 0:
                # Drop the kernel's cached pages now and then so reads reach the mount again.
                for fd in fds:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            k = rng.randrange(len(names))
            data = source[names[k]]
            roll = rng.random()
            if roll < 0.75:
                length = rng.randint(1, 64 * 1024)
            elif roll < 0.95:
                length = rng.randint(64 * 1024, 3 * MiB)  # across 1 MiB blocks
            else:
                length = rng.randint(1, 2 * MiB)
            if roll >= 0.95:
                off = len(data) - rng.randint(0, length)  # runs into the end of the file
            elif rng.random() < 0.1:
                off = rng.randrange(1, len(data) // MiB + 1) * MiB - rng.randint(0, 4096)
            else:
                off = rng.randrange(len(data))
            got = os.pread(fds[k], length, off)
            assert got == data[off:off + length], (names[k], off, length)
        assert os.pread(fds[0], 100, len(source[names[0]]) + 5) == b""
    finally:
        for fd in fds:
            os.close(fd)


TORCH_SCRIPT = textwrap.dedent("""
    import hashlib, json, os, sys
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Files(Dataset):
        def __init__(self, root, names):
            self.root, self.names = root, names
        def __len__(self):
            return len(self.names)
        def __getitem__(self, i):
            with open(os.path.join(self.root, self.names[i]), "rb") as f:
                data = f.read()
            t = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else \\
                torch.zeros(0, dtype=torch.uint8)
            return i, int(t.numel()), int(t.sum()), hashlib.sha256(data).hexdigest(), os.getpid()

    root, names = sys.argv[1], json.load(sys.stdin)
    loader = DataLoader(Files(root, names), batch_size=32, shuffle=True, num_workers=2,
                        collate_fn=lambda batch: batch)
    out = {}
    for batch in loader:
        for i, n, s, h, pid in batch:
            out[i] = [n, s, h, pid]
    json.dump(out, sys.stdout)
""")


def test_torch_dataloader_with_two_workers_reads_the_mount(mnt, source):
    names = sorted(source)
    r = subprocess.run(["/usr/bin/python3", "-c", TORCH_SCRIPT, mnt.path("data")],
                       input=json.dumps(names), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = {int(k): v for k, v in json.loads(r.stdout).items()}
    assert sorted(out) == list(range(len(names)))
    for i, name in enumerate(names):
        data = source[name]
        n, s, h, _ = out[i]
        assert (n, s, h) == (len(data), sum(data), hashlib.sha256(data).hexdigest()), name
    assert len({v[3] for v in out.values()}) == 2, "both DataLoader workers read"


# ---------------------------------------------------------------- writes


def test_files_written_through_the_mount_land_in_the_store(mnt, cluster, s3rver, tmp_path):
    store = s3_client(s3rver.endpoint)
    workers = [s3_client(w.endpoint) for w in cluster.workers]
    big = os.urandom(5 * MiB + 3)
    (tmp_path / "big.bin").write_bytes(big)
    wdir = mnt.path("data", "fuse-w")
    os.mkdir(wdir)
    r = subprocess.run(["cp", str(tmp_path / "big.bin"), os.path.join(wdir, "big.bin")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(wdir, "small.txt"), "w") as f:
        f.write("hello through FUSE\n")
    os.mkdir(os.path.join(wdir, "new"))
    assert os.path.isdir(os.path.join(wdir, "new"))
    assert os.listdir(os.path.join(wdir, "new")) == []
    deep = os.urandom(70000)
    with open(os.path.join(wdir, "new", "deep.bin"), "wb") as f:
        f.write(deep[:1000])
        f.write(deep[1000:])
    expected = {"fuse-w/big.bin": big, "fuse-w/small.txt": b"hello through FUSE\n",
                "fuse-w/new/deep.bin": deep}
    # In the under store, whole, as soon as close() returned ...
    for key, data in expected.items():
        assert store.get_object(Bucket=s3rver.bucket, Key=key)["Body"].read() == data, key
    # ... and through S3 from any worker at once.
    for c in workers:
        for key, data in expected.items():
            assert c.get_object(Bucket="data", Key=key)["Body"].read() == data, key
    # ... and back through the mount.
    for key, data in expected.items():
        p = mnt.path("data", key)
        assert os.stat(p).st_size == len(data)
        with open(p, "rb") as f:
            assert f.read() == data, key
    assert sorted(os.listdir(wdir)) == ["big.bin", "new", "small.txt"]

    # Overwriting (open 'w' truncates: a whole new object) is seen everywhere.
    with open(os.path.join(wdir, "small.txt"), "w") as f:
        f.write("second version, longer than the first\n")
    new = b"second version, longer than the first\n"
    assert store.get_object(Bucket=s3rver.bucket, Key="fuse-w/small.txt")["Body"].read() == new
    with open(os.path.join(wdir, "small.txt"), "rb") as f:
        assert f.read() == new
    deadline = time.time() + 2  # other members hear of the write in the background
    for c in workers:
        while True:
            got = c.get_object(Bucket="data", Key="fuse-w/small.txt")["Body"].read()
            if got == new or time.time() > deadline:
                break
            time.sleep(0.05)
        assert got == new

    # rename (a copy and a delete) and unlink reach the store too; the new name reads at
    # once (the kernel was told of the old path: an open trusting it got ENOENT).
    os.stat(os.path.join(wdir, "small.txt"))
    os.rename(os.path.join(wdir, "small.txt"), os.path.join(wdir, "renamed.txt"))
    with open(os.path.join(wdir, "renamed.txt"), "rb") as f:
        assert f.read() == new
    assert store.get_object(Bucket=s3rver.bucket, Key="fuse-w/renamed.txt")["Body"].read() == new
    os.unlink(os.path.join(wdir, "big.bin"))
    keys = {o["Key"] for o in store.list_objects_v2(Bucket=s3rver.bucket,
                                                    Prefix="fuse-w/")["Contents"]}
    assert keys == {"fuse-w/renamed.txt", "fuse-w/new/deep.bin"}


def test_truncate_by_path_of_a_file_open_for_writing(mnt, s3rver):
    """truncate(path) reaches the file open for writing; racing its close (the handle is
    released meanwhile) is an error or a success, never a crash of the mount."""
    import threading
    store = s3_client(s3rver.endpoint)
    d = mnt.path("data", "fuse-trunc")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "t.txt")
    with open(p, "wb") as f:
        f.write(b"0123456789")
        f.flush()
        os.truncate(p, 4)
    assert store.get_object(Bucket=s3rver.bucket, Key="fuse-trunc/t.txt")["Body"].read() == b"0123"
    stop = threading.Event()

    def truncator():
        while not stop.is_set():
            try:
                os.truncate(p, 1)
            except OSError:
                pass
    t = threading.Thread(target=truncator)
    t.start()
    try:
        for i in range(30):
            with open(p, "wb") as f:
                f.write(b"x" * 100)
    finally:
        stop.set()
        t.join()
    # The mount is alive and consistent afterwards (s3rver's own writes of one key from
    # racing uploads are not atomic, so what the race left in the store is not checked).
    assert os.listdir(d) == ["t.txt"]
    with open(p, "wb") as f:
        f.write(b"after the race")
    assert store.get_object(Bucket=s3rver.bucket,
                            Key="fuse-trunc/t.txt")["Body"].read() == b"after the race"


def test_s3_directory_markers_are_directories_not_files(mnt, s3rver):
    """A "dir/" marker object (what consoles and some tools create) lists as nothing
    inside its directory, not as a phantom empty file named like the directory."""
    store = s3_client(s3rver.endpoint)
    store.put_object(Bucket=s3rver.bucket, Key="fuse-marker/", Body=b"")
    store.put_object(Bucket=s3rver.bucket, Key="fuse-marker/x", Body=b"x")
    assert os.listdir(mnt.path("data", "fuse-marker")) == ["x"]
    assert os.path.isdir(mnt.path("data", "fuse-marker"))


def test_a_file_unlinked_while_being_written_does_not_come_back(mnt, s3rver):
    """POSIX: the name is gone at unlink; the open file still reads and writes, and its
    close writes nothing through (before the fix it reappeared at close)."""
    store = s3_client(s3rver.endpoint)
    d = mnt.path("data", "fuse-unlink")
    os.makedirs(d, exist_ok=True)
    keep = os.path.join(d, "keep.txt")
    with open(keep, "w") as f:
        f.write("stays")
    for flushed_first in (False, True):
        p = os.path.join(d, f"gone-{flushed_first}.bin")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.write(fd, b"x" * 1000)
            if flushed_first:
                os.fsync(fd)  # already in the store when unlinked
            os.unlink(p)
            assert not os.path.exists(p)
            os.write(fd, b"y" * 1000)
        finally:
            os.close(fd)
        assert not os.path.exists(p)
        assert os.path.basename(p) not in os.listdir(d)
        with pytest.raises(Exception):
            store.head_object(Bucket=s3rver.bucket, Key=f"fuse-unlink/{os.path.basename(p)}")
    assert open(keep).read() == "stays"


def test_renaming_a_file_still_open_for_writing_moves_its_upload(mnt, s3rver):
    """`rename(tmp, dst)` before the writer's close (with or without an fsync before it):
    the open file takes the new name and its bytes land there whole; the old name is
    gone (before, rename failed with ENOENT, or the bytes came back under the old name)."""
    store = s3_client(s3rver.endpoint)
    d = mnt.path("data", f"{PREFIX}/ren")
    os.makedirs(d, exist_ok=True)
    for synced in (False, True):
        tmp, dst = os.path.join(d, f"tmp{synced}"), os.path.join(d, f"dst{synced}")
        f = open(tmp, "wb", buffering=0)
        f.write(b"first part, ")
        if synced:
            os.fsync(f.fileno())  # written through under the old name
        os.rename(tmp, dst)
        f.write(b"second part")
        assert os.stat(dst).st_size == len(b"first part, second part")
        f.close()
        key = f"{PREFIX}/ren/dst{synced}"
        got = store.get_object(Bucket=s3rver.bucket, Key=key)["Body"].read()
        assert got == b"first part, second part", synced
        with pytest.raises(ClientError):
            store.head_object(Bucket=s3rver.bucket, Key=f"{PREFIX}/ren/tmp{synced}")
        assert not os.path.exists(tmp)
        with open(dst, "rb") as r:
            assert r.read() == b"first part, second part"
    # The usual atomic write: close, then rename (the release of the closed file comes
    # after, in the background: the rename often meets the file still open).
    for i in range(10):
        tmp, dst = os.path.join(d, f"ck.tmp{i}"), os.path.join(d, f"ck{i}")
        with open(tmp, "wb") as f:
            f.write(b"checkpoint %d" % i)
        os.replace(tmp, dst)
        got = store.get_object(Bucket=s3rver.bucket, Key=f"{PREFIX}/ren/ck{i}")["Body"].read()
        assert got == b"checkpoint %d" % i
        with pytest.raises(ClientError):
            store.head_object(Bucket=s3rver.bucket, Key=f"{PREFIX}/ren/ck.tmp{i}")


def test_a_file_being_written_is_listed_and_readable_before_its_close(mnt):
    """A log or checkpoint still open for writing: ls shows it (as stat does) and a reader
    gets the bytes written so far; after the close, the object's."""
    d = mnt.path("data", f"{PREFIX}/live")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "train.log")
    w = open(path, "wb", buffering=0)
    try:
        w.write(b"epoch 1 loss 0.9\n")
        assert "train.log" in os.listdir(d)
        with open(path, "rb") as r:
            assert r.read() == b"epoch 1 loss 0.9\n"
        w.write(b"epoch 2 loss 0.5\n")
        with open(path, "rb") as r:
            assert r.read() == b"epoch 1 loss 0.9\nepoch 2 loss 0.5\n"
        assert {e.name: e.stat().st_size for e in os.scandir(d)}["train.log"] == 34
    finally:
        w.close()
    with open(path, "rb") as r:
        assert r.read() == b"epoch 1 loss 0.9\nepoch 2 loss 0.5\n"


def test_fstat_of_an_open_file_whose_name_is_gone(mnt):
    """POSIX: fstat answers from the open file, not its name (C tools and some runtimes
    fstat after unlinking a temporary file)."""
    d = mnt.path("data", f"{PREFIX}/fst")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "scratch")
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"x" * 1234)
        os.unlink(path)
        assert not os.path.exists(path)
        assert os.fstat(fd).st_size == 1234
    finally:
        os.close(fd)


def test_a_key_that_is_also_a_prefix_lists_once_as_the_file(mnt, s3rver):
    """Keys x/b and x/b/c: one entry `b`, the file a lookup finds (two entries of one inode,
    a file and a directory, made the kernel mark it bad: EIO)."""
    upload(s3rver, {f"{PREFIX}/dup/x/b": b"file b", f"{PREFIX}/dup/x/b/c": b"under b",
                    f"{PREFIX}/dup/x/z": b"z"})
    d = mnt.path("data", f"{PREFIX}/dup/x")
    assert sorted(os.listdir(d)) == ["b", "z"]
    entries = {e.name: e.is_file() for e in os.scandir(d)}  # readdirplus attributes
    assert entries == {"b": True, "z": True}
    with open(os.path.join(d, "b"), "rb") as f:
        assert f.read() == b"file b"


def test_cp_mv_and_rm_of_directory_trees(mnt, s3rver, tmp_path):
    """What people do in a shell: cp -r a tree in, mv it (a directory rename is EXDEV, so mv
    copies and deletes), rm -r it; each exits 0 and the store follows."""
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    files = {"a.txt": b"a" * 10, "sub/b.bin": os.urandom(3000),
             "sub/deeper/c.bin": os.urandom(1 * MiB + 1)}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    store = s3_client(s3rver.endpoint)

    def keys(prefix):
        r = store.list_objects_v2(Bucket=s3rver.bucket, Prefix=prefix)
        return {o["Key"][len(prefix):]: o["Size"] for o in r.get("Contents", [])}

    def sh(*args):
        r = subprocess.run(args, cwd=mnt.path("data"), capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, (args, r.stderr)

    os.mkdir(mnt.path("data", "fuse-sh"))
    sh("cp", "-r", str(src), "fuse-sh/tree")
    assert keys("fuse-sh/tree/") == {k: len(v) for k, v in files.items()}
    sh("mv", "fuse-sh/tree", "fuse-sh/moved")
    assert keys("fuse-sh/tree/") == {}
    assert keys("fuse-sh/moved/") == {k: len(v) for k, v in files.items()}
    assert not os.path.exists(mnt.path("data", "fuse-sh", "tree"))
    for rel, data in files.items():
        with open(mnt.path("data", "fuse-sh", "moved", rel), "rb") as f:
            assert f.read() == data
    sh("rm", "-r", "fuse-sh/moved")
    assert keys("fuse-sh/") == {}
    assert not os.path.exists(mnt.path("data", "fuse-sh", "moved"))


def test_an_object_replaced_through_s3_is_read_whole_through_the_mount(mnt, cluster):
    """The kernel caches a file's size for the metadata TTL; a read after the object was
    replaced (and the open_ttl of 1 s, during which an open trusts the stat it has, passed)
    must still see one whole version, not the new bytes cut at the old size."""
    s3 = s3_client(cluster.workers[0].endpoint)
    cases = {"grows.bin": (b"old", b"NEW CONTENT, LONGER THAN THE OLD"),
             "shrinks.bin": (b"old content, longer than the new", b"NEW")}
    for name, (old, _) in cases.items():
        s3.put_object(Bucket="data", Key=f"fuse-ow/{name}", Body=old)
        assert os.stat(mnt.path("data", "fuse-ow", name)).st_size == len(old)  # now cached
    for name, (_, new) in cases.items():
        s3.put_object(Bucket="data", Key=f"fuse-ow/{name}", Body=new)
    time.sleep(1.2)  # the default open_ttl
    deadline = time.time() + 3  # other members drop their cached stats in the background
    for name, (old, new) in cases.items():
        while True:
            with open(mnt.path("data", "fuse-ow", name), "rb") as f:
                got = f.read()
            assert got in (old, new), (name, got)
            if got == new or time.time() > deadline:
                break
            time.sleep(0.1)
        assert got == new, name


def test_a_reader_of_the_old_version_does_not_mix_it_into_a_new_readers_bytes(mnt, cluster):
    """Handle A reads version 1 (its read-ahead holds more of it); the object is replaced;
    handle B opens version 2. What A reads next fills the page cache both share: B must
    still read version 2 whole (it bypasses the cache while A is open)."""
    s3 = s3_client(cluster.workers[0].endpoint)
    key, size = "fuse-mix/obj.bin", 8 * MiB
    v1, v2 = b"1" * size, b"2" * size
    s3.put_object(Bucket="data", Key=key, Body=v1)
    path = mnt.path("data", key)
    a = open(path, "rb", buffering=0)
    try:
        assert a.read(MiB) == v1[:MiB]  # sequential: A's Reader reads ahead of this
        s3.put_object(Bucket="data", Key=key, Body=v2)
        time.sleep(1.2)  # the default open_ttl
        deadline = time.time() + 3
        while True:
            with open(path, "rb", buffering=0) as probe:
                first = probe.read(1)
            if first == b"2" or time.time() > deadline:
                break
            time.sleep(0.1)
        assert first == b"2"
        b = open(path, "rb", buffering=0)
        try:
            # A goes on from its read-ahead: version 1's bytes, into the shared page cache.
            more = a.read(2 * MiB)
            assert more == v1[MiB:3 * MiB]
            got = b.read()
            assert len(got) == size and got == v2, set(got)
        finally:
            b.close()
    finally:
        a.close()


# ---------------------------------------------------------------- errors


def test_what_an_object_store_cannot_do_fails_with_a_clear_errno(mnt, source, cluster):
    f0 = mnt.path("data", PREFIX, "tree", "d0", "f0.bin")
    # Writing into an existing object (append, or read-write without truncation).
    expect_errno(errno.ENOTSUP, open, f0, "ab")
    expect_errno(errno.ENOTSUP, open, f0, "r+b")
    # Hard and symbolic links.
    expect_errno((errno.ENOTSUP, errno.EPERM), os.link, f0, f0 + ".lnk")
    expect_errno((errno.ENOTSUP, errno.EPERM), os.symlink, "f0.bin",
                 mnt.path("data", PREFIX, "tree", "d0", "sym"))
    # Modes and owners: setting the ones reported is a no-op, another is EPERM.
    mode = os.stat(f0).st_mode & 0o7777
    os.chmod(f0, mode)
    expect_errno(errno.EPERM, os.chmod, f0, 0o600)
    expect_errno(errno.EPERM, os.chown, f0, 1234, 1234)
    # Directories.
    expect_errno(errno.ENOTEMPTY, os.rmdir, mnt.path("data", PREFIX, "tree", "d0"))
    expect_errno(errno.ENOTDIR, os.rmdir, f0)
    expect_errno(errno.EEXIST, os.mkdir, mnt.path("data", PREFIX, "tree", "d0"))
    expect_errno(errno.EXDEV, os.rename, mnt.path("data", PREFIX, "tree", "d1"),
                 mnt.path("data", PREFIX, "tree", "d1-moved"))
    d = mnt.path("data", PREFIX, "empty-dir")
    os.mkdir(d)
    os.rmdir(d)
    assert not os.path.exists(d)
    # Missing names.
    expect_errno(errno.ENOENT, open, mnt.path("data", PREFIX, "tree", "nope.bin"), "rb")
    expect_errno(errno.ENOENT, os.stat, mnt.path("data", "no", "such", "dir"))
    expect_errno(errno.ENOENT, os.unlink, mnt.path("data", PREFIX, "tree", "nope.bin"))
    # The root holds the cluster's mounts only.
    expect_errno(errno.EACCES, os.mkdir, mnt.path("newmount"))
    expect_errno(errno.EACCES, open, mnt.path("file-at-root"), "wb")

    ro = Mount(mount_env(cluster), options=["ro"])
    try:
        expect_errno(errno.EROFS, open, ro.path("data", PREFIX, "tree", "d0", "f0.bin"), "wb")
        expect_errno(errno.EROFS, open, ro.path("data", PREFIX, "new.bin"), "wb")
        expect_errno(errno.EROFS, os.mkdir, ro.path("data", PREFIX, "newdir"))
        expect_errno(errno.EROFS, os.unlink, ro.path("data", PREFIX, "tree", "d0", "f0.bin"))
        expect_errno(errno.EROFS, os.rename, ro.path("data", PREFIX, "tree", "d0", "f0.bin"),
                     ro.path("data", PREFIX, "tree", "d0", "f0.moved"))
        with open(ro.path("data", PREFIX, "tree", "d0", "f0.bin"), "rb") as f:
            assert f.read() == source[f"{PREFIX}/tree/d0/f0.bin"]
    finally:
        ro.cleanup()


# ---------------------------------------------------------------- failures and lifecycle


def test_kill_9_of_a_worker_under_a_reader_fails_no_read(s3rver, source, config_file):
    """A fresh cluster (cold caches) and mount; a thread reads the tree and then the large
    files while one worker is killed."""
    c = make_cluster(s3rver, config_file)
    m = None
    try:
        m = Mount(mount_env(c))
        names = [n for n in sorted(source) if "/tree/d1" in n][:600] + \
            [f"{PREFIX}/big/b{i}.bin" for i in range(len(BIG_SIZES))]
        done, errors = [], []

        def reader():
            try:
                for n in names:
                    with open(m.path("data", n), "rb") as f:
                        if f.read() != source[n]:
                            errors.append(f"{n}: wrong bytes")
                    done.append(n)
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(repr(e))

        t = threading.Thread(target=reader)
        t.start()
        deadline = time.time() + 60
        while len(done) < 150 and t.is_alive() and time.time() < deadline:
            time.sleep(0.01)
        assert t.is_alive(), "the reader finished before the kill: read more"
        c.workers[1].kill()
        t.join(timeout=120)
        assert not t.is_alive()
        assert errors == []
        assert len(done) == len(names)
    finally:
        if m:
            m.cleanup()
        c.stop()


def test_kill_9_of_the_worker_taking_a_files_close_loses_no_bytes(s3rver, config_file):
    """A checkpoint's close() uploads its staging file to the path's owner; that worker is
    killed mid-upload: the close fails over to the next owner, which writes it whole."""
    c = make_cluster(s3rver, config_file)
    m = None
    try:
        m = Mount(mount_env(c))
        os.makedirs(m.path("data", "fuse-kill"), exist_ok=True)
        path = m.path("data", "fuse-kill/ckpt.bin")
        before = [w.metrics().get("sluice_writes_committed_total", 0) for w in c.workers]
        with open(path, "wb") as f:
            f.write(b"x")
        after = [w.metrics().get("sluice_writes_committed_total", 0) for w in c.workers]
        owner = [i for i in range(len(before)) if after[i] > before[i]]
        assert len(owner) == 1, (before, after)
        data = os.urandom(192 * MiB)
        f = open(path, "wb")
        f.write(data)  # staged locally; close() uploads
        result = []

        def close():
            try:
                f.close()
                result.append("ok")
            except OSError as e:
                result.append(repr(e))

        t = threading.Thread(target=close)
        t.start()
        time.sleep(0.3)
        assert t.is_alive(), "the upload ended before the kill: write more"
        c.workers[owner[0]].kill()
        t.join(timeout=120)
        assert result == ["ok"]
        got = s3_client(s3rver.endpoint).get_object(
            Bucket=s3rver.bucket, Key="fuse-kill/ckpt.bin")["Body"].read()
        assert len(got) == len(data) and got == data
    finally:
        if m:
            m.cleanup()
        c.stop()


def test_sluice_umount_leaves_no_mount(cluster, mountpoint):
    m = Mount(mount_env(cluster), mountpoint=mountpoint)
    try:
        r = subprocess.run([SLUICE, "umount", mountpoint], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        assert not mounted(mountpoint)
        assert m.proc.wait(timeout=15) == 0
        r = subprocess.run([SLUICE, "umount", mountpoint], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode != 0 and "nothing is mounted" in r.stderr
    finally:
        m.cleanup()


def test_background_mount_and_umount(cluster, mountpoint):
    """Without -f the command returns once mounted, leaving the server running; umount
    ends it."""
    def servers():
        pids = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        argv = f.read().split(b"\0")
                except OSError:
                    continue
                if argv[:3] == [SLUICE.encode(), b"mount", mountpoint.encode()]:
                    pids.append(int(pid))
        return pids

    try:
        r = subprocess.run([SLUICE, "mount", mountpoint], env=mount_env(cluster),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert mounted(mountpoint)
        assert "data" in os.listdir(mountpoint)
        assert len(servers()) == 1
        r = subprocess.run([SLUICE, "umount", mountpoint], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        assert not mounted(mountpoint)
        deadline = time.time() + 10
        while servers() and time.time() < deadline:
            time.sleep(0.05)
        assert servers() == []
    finally:
        lazy_unmount(mountpoint)
        for pid in servers():
            os.kill(pid, signal.SIGKILL)


def test_sigterm_to_a_foreground_mount_unmounts_cleanly(cluster, mountpoint):
    m = Mount(mount_env(cluster), mountpoint=mountpoint)
    try:
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(timeout=15) == 0, m.logs()
        assert not mounted(mountpoint)
        assert os.listdir(mountpoint) == []
    finally:
        m.cleanup()


def test_kill_9_of_the_mount_leaves_a_stale_mount_a_new_mount_replaces(cluster, source,
                                                                       mountpoint):
    m = Mount(mount_env(cluster), mountpoint=mountpoint)
    m2 = None
    try:
        m.proc.kill()
        m.proc.wait()
        assert mounted(mountpoint)
        expect_errno(errno.ENOTCONN, os.stat, mountpoint)
        m2 = Mount(mount_env(cluster), mountpoint=mountpoint)
        assert "cleared a stale mount" in m2.logs()
        with open(m2.path("data", PREFIX, "tree", "d3", "f3.bin"), "rb") as f:
            assert f.read() == source[f"{PREFIX}/tree/d3/f3.bin"]
        with open("/proc/mounts") as f:
            assert sum(line.split()[1] == mountpoint for line in f) == 1
    finally:
        if m2:
            m2.cleanup()
        m.cleanup()


def test_mount_against_a_dead_cluster_fails_clearly(mountpoint, sluice_env):
    dead = f"127.0.0.1:{free_port()}"
    env = dict(sluice_env)
    env.pop("SLUICE_CLUSTER", None)
    for extra in (["-f"], []):  # foreground and background
        start = time.time()
        r = subprocess.run([SLUICE, "mount", mountpoint, "--cluster", dead, *extra], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert dead in r.stderr and "no Sluice worker answers" in r.stderr, r.stderr
        assert time.time() - start < 15
        assert not mounted(mountpoint)
    r = subprocess.run([SLUICE, "mount", mountpoint + "/missing", "--cluster", dead, "-f"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and not mounted(mountpoint + "/missing")


def test_a_directory_of_8000_entries_lists_whole(tmp_path, sluice_env):
    """readdir past the first buffer: every entry needs a real inode number (readdir(3)
    skips d_ino 0), whether or not the kernel looked it up before."""
    data = tmp_path / "store"
    (data / "many").mkdir(parents=True)
    names = {f"f{i:05d}" for i in range(8000)}
    for n in names:
        (data / "many" / n).write_bytes(b"x")
    cluster = Cluster({"data": f"file://{data}"}, n=2)
    m = None
    try:
        m = Mount(mount_env(cluster))
        assert set(os.listdir(m.path("data", "many"))) == names
        assert len(os.listdir(m.path("data", "many"))) == 8000  # again, with entries known
        assert sum(len(f) for _, _, f in os.walk(m.path("data"))) == 8000
    finally:
        if m:
            m.cleanup()
        cluster.stop()
