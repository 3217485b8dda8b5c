"""Black-box tests of the Python package (issue 7): the sluice._sluice client, the fsspec file
system (sluice://) and the PyTorch helpers, against a real cluster over a real s3rver. The
package is imported from the build tree ($SLUICE_BUILD/python, default build/python).
Under-store traffic is counted by the workers' metrics, never timed."""
import errno
import math
import os
import threading
import pickle
import sys
import time

import pytest

from conftest import BUILD, Cluster, Worker, free_port, s3_client, upload

MiB = 1 << 20
PYTHON_DIR = os.path.join(BUILD, "python")

sys.path.insert(0, PYTHON_DIR)
try:
    import fsspec
    import sluice
    from sluice.fs import SluiceFileSystem
    IMPORT_ERROR = None
except ImportError as e:  # reported by every test below, not skipped
    IMPORT_ERROR = (f"cannot import the sluice Python package from {PYTHON_DIR} ({e}): build "
                    f"it with `ninja -C {BUILD} sluice_python` (needs pybind11-dev and "
                    f"python3-fsspec: scripts/bootstrap)")


@pytest.fixture(autouse=True)
def _package():
    if IMPORT_ERROR:
        pytest.fail(IMPORT_ERROR, pytrace=False)
    assert sluice.__file__.startswith(PYTHON_DIR), sluice.__file__


def record(data):
    """A dataset transform (module level: DataLoader workers may unpickle it)."""
    return os.getpid(), data


def rand(n, seed):
    import random
    return random.Random(seed).randbytes(n)


N_COLD = 40  # samples of each cold prefix


@pytest.fixture(scope="module")
def objects(s3rver):
    """Keys of the mount `data` (s3://bucket/pyt) -> bytes, uploaded once."""
    objs = {"f/big.bin": rand(3 * MiB + 123, 1), "f/small.txt": b"hello sluice\n",
            "f/huge.bin": rand(9 * MiB + 7, 2),
            "tree/a/1.bin": b"1" * 11, "tree/a/2.bin": b"2" * 22, "tree/b/3.bin": b"3" * 33,
            "tree/top.bin": b"t" * 44, "tree/c.txt": b"c" * 55}
    objs.update({f"page/k{i:03}.bin": rand(10, i) for i in range(25)})
    objs.update({f"ds/s{i:03}.bin": rand(1 + (i * 7919) % 40000, i) for i in range(64)})
    for prefix in ("cold_a", "cold_b", "win"):
        objs.update({f"{prefix}/s{i:03}.bin": rand(1000 + (i * 104729) % 60000, i + 1000)
                     for i in range(N_COLD)})
    upload(s3rver, {f"pyt/{k}": v for k, v in objs.items()})
    return objs


@pytest.fixture(scope="module")
def pyc(s3rver, objects):
    """Three workers with mount `data`; SLUICE_CLUSTER names them while the module runs."""
    c = Cluster({"data": s3rver.uri("pyt")}, n=3)
    old = os.environ.get("SLUICE_CLUSTER")
    os.environ["SLUICE_CLUSTER"] = c.address
    yield c
    if old is None:
        os.environ.pop("SLUICE_CLUSTER", None)
    else:
        os.environ["SLUICE_CLUSTER"] = old
    c.stop()


@pytest.fixture()
def fs(pyc):
    return fsspec.filesystem("sluice")


def s3_keys(s3rver, prefix):
    r = s3_client(s3rver.endpoint).list_objects_v2(Bucket=s3rver.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in r.get("Contents", []))


def s3_get(s3rver, key):
    return s3_client(s3rver.endpoint).get_object(Bucket=s3rver.bucket, Key=key)["Body"].read()


# ---------------------------------------------------------------- the client


def test_client_reads_ranges_lists_pages_and_pickles_stats(pyc, objects):
    c = sluice.Client()  # from $SLUICE_CLUSTER
    big = objects["f/big.bin"]
    st = c.stat("sluice://data/f/big.bin")
    assert (st.path, st.size, st.is_dir) == ("/data/f/big.bin", len(big), False)
    assert st.version and pickle.loads(pickle.dumps(st)) == st
    assert c.stat("/data/tree").is_dir
    assert c.read("/data/f/big.bin", 10, 20) == big[10:30]
    assert c.read("data/f/big.bin", len(big) - 5) == big[-5:]
    assert c.read("/data/f/big.bin", len(big) + 5) == b""
    # A length far past the end allocates (and asks for) only what exists.
    assert c.read("/data/f/small.txt", 0, 1 << 40) == b"hello sluice\n"
    assert c.read_all("/data/f/big.bin") == big
    # A read of unknown length is clamped by one stat, then read in 8 MiB pieces at the
    # version it named: 3 requests for 9 MiB, not a second stat by the client.
    huge = objects["f/huge.bin"]
    before = c.stats()["requests"]
    assert c.read("/data/f/huge.bin") == huge
    assert c.read("/data/f/huge.bin", MiB, 1 << 40) == huge[MiB:]
    assert c.stats()["requests"] - before == 2 * (1 + math.ceil(len(huge) / (8 * MiB)))
    buf = bytearray(MiB)
    assert c.readinto("/data/f/big.bin", 50, buf) == MiB and buf == big[50:50 + MiB]
    # A strided target is refused, never written as one run (past its end for [::-1]).
    guard = bytearray(b"." * 10)
    for view in (memoryview(guard)[::2], memoryview(guard)[::-1]):
        with pytest.raises(ValueError, match="contiguous"):
            c.readinto("/data/f/big.bin", 0, view)
    assert guard == b"." * 10

    with c.open(st) as r:  # the version the stat named, no request
        assert r.size == len(big) and r.read(10) == big[:10] and r.tell() == 10
        assert r.seek(-4, 2) == len(big) - 4 and r.read() == big[-4:] and r.read() == b""
        assert r.pread(100, 5) == big[100:105] and r.tell() == len(big)
        view = memoryview(bytearray(7))
        r.seek(3)
        assert r.readinto(view) == 7 and bytes(view) == big[3:10]
        with pytest.raises(ValueError, match="contiguous"):
            r.readinto(memoryview(bytearray(8))[::2])
    with pytest.raises(ValueError, match="closed"):
        r.read()

    keys, token, pages = [], "", 0
    while True:
        objs, prefixes, token = c.list("/data/page", "/", token, 10)
        keys += [o.path for o in objs]
        pages += 1
        if not token:
            break
    assert pages == 3 and keys == sorted(f"/data/page/k{i:03}.bin" for i in range(25))
    objs, prefixes, _ = c.list("/data/tree")
    assert [o.path for o in objs] == ["/data/tree/c.txt", "/data/tree/top.bin"]
    assert prefixes == ["/data/tree/a/", "/data/tree/b/"]
    assert c.list("/")[1] == ["/data/"]

    assert sorted(c.workers()) == sorted(w.endpoint for w in pyc.workers)
    assert all(s["reachable"] for s in c.cluster_status())
    assert c.stats()["requests"] > 0


def test_a_client_belongs_to_its_process_and_sluice_client_makes_one_per_process(pyc):
    c = sluice.client()
    assert sluice.client() is c
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 0
        try:
            try:
                c.stat("/data/f/small.txt")
                code = 3
            except RuntimeError as e:
                code = 0 if "forked child" in str(e) else 4
            mine = sluice.client()
            if mine is c or mine.read_all("/data/f/small.txt") != b"hello sluice\n":
                code = 5
        except BaseException:  # noqa: BLE001
            code = 6
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert c.read_all("/data/f/small.txt") == b"hello sluice\n"


def wait_child(pid, timeout):
    """The exit code of child `pid`, or None (and the child killed) after `timeout` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.WEXITSTATUS(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


def test_a_reader_inherited_by_a_forked_child_closes_there(pyc, objects):
    """A child forked while a Reader's read-ahead runs (on a parent's thread) can close or
    drop that Reader: it does not wait for the thread, which is not in the child."""
    c = sluice.client()
    data = rand(48 * MiB, 77)
    c.write("/data/fork/big.bin", data)
    c.free("/data/fork/big.bin")  # cold: the read-ahead has to fetch from the store
    with c.open(c.stat("/data/fork/big.bin")) as r:
        for _ in range(3):  # sequential: the read-ahead (16 MiB) starts
            r.read(64 * 1024)
        pid = os.fork()
        if pid == 0:
            try:
                r.close()
                os._exit(0)
            except BaseException:  # noqa: BLE001
                os._exit(7)
        assert wait_child(pid, 30) == 0
        assert r.read(10) == data[3 * 64 * 1024:3 * 64 * 1024 + 10]


# ---------------------------------------------------------------- fsspec: reads


def test_fsspec_open_reads_seeks_and_reads_into(pyc, objects):
    big = objects["f/big.bin"]
    with fsspec.open("sluice://data/f/big.bin", "rb") as f:
        assert f.size == len(big)
        assert f.read(100) == big[:100]
        f.seek(MiB + 7)
        assert f.tell() == MiB + 7
        assert f.read(2 * MiB) == big[MiB + 7:3 * MiB + 7]
        f.seek(-10, 2)
        assert f.read() == big[-10:] and f.read() == b""
        f.seek(-30, 1)
        assert f.read(10) == big[-30:-20]
        f.seek(5)
        buf = bytearray(1000)
        assert f.readinto(buf) == 1000 and buf == big[5:1005]
    with fsspec.open("sluice://data/f/small.txt", "rt") as f:
        assert f.read() == "hello sluice\n"


def test_s3_directory_markers_are_not_files(fs, pyc, s3rver):
    """A "dir/" marker object is the directory, not a phantom empty file in listings,
    find, or a dataset's samples."""
    from sluice.torch import SluiceDataset
    store = s3_client(s3rver.endpoint)
    store.put_object(Bucket=s3rver.bucket, Key="pyt/marked/", Body=b"")
    store.put_object(Bucket=s3rver.bucket, Key="pyt/marked/x.bin", Body=b"x")
    assert fs.find("data/marked") == ["data/marked/x.bin"]
    assert [e["name"] for e in fs.ls("data/marked")] == ["data/marked/x.bin"]
    assert fs.isdir("data/marked")
    assert SluiceDataset("/data/marked").paths == ["/data/marked/x.bin"]


def test_a_file_open_for_reading_keeps_its_version(fs, objects):
    fs.pipe_file("data/ver/v.bin", b"A" * 5000)
    with fs.open("data/ver/v.bin", "rb", cache_type="none") as f:
        assert f.read(10) == b"A" * 10
        fs.pipe_file("data/ver/v.bin", b"B" * 5000)
        with pytest.raises(OSError) as e:
            f.read(10)
        assert e.value.errno == errno.ESTALE
    assert fs.cat_file("data/ver/v.bin", 0, 3) == b"BBB"


def test_cat_file_and_cat_ranges_read_ranges(fs, objects):
    big = objects["f/big.bin"]
    assert fs.cat_file("data/f/big.bin") == big
    assert fs.cat_file("sluice://data/f/big.bin", 100, 200) == big[100:200]
    assert fs.cat_file("data/f/big.bin", 3 * MiB) == big[3 * MiB:]
    assert fs.cat_file("data/f/big.bin", -10) == big[-10:]
    assert fs.cat_file("data/f/big.bin", 5, -5) == big[5:-5]
    assert fs.cat_file("data/f/big.bin", None, 7) == big[:7]
    assert fs.cat_file("data/f/big.bin", len(big) + 1, len(big) + 9) == b""
    paths = ["data/f/big.bin", "data/f/small.txt", "data/f/nope.bin", "data/f/big.bin"]
    out = fs.cat_ranges(paths, [0, 6, 0, MiB], [4, 12, 1, MiB + 3 * 100_000])
    assert out[0] == big[:4] and out[1] == b"sluice" and out[3] == big[MiB:MiB + 300_000]
    assert isinstance(out[2], FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        fs.cat_ranges(paths, [0] * 4, [1] * 4, on_error="raise")
    assert fs.cat(["data/tree/a/1.bin", "data/tree/b/3.bin"]) == {
        "data/tree/a/1.bin": b"1" * 11, "data/tree/b/3.bin": b"3" * 33}
    assert fs.head("data/f/big.bin", 3) == big[:3] and fs.tail("data/f/big.bin", 3) == big[-3:]


# ---------------------------------------------------------------- fsspec: listings


def test_listings_follow_fsspec_conventions(fs, objects):
    assert fs.ls("", detail=False) == ["data"]
    assert fs.ls("sluice://data/tree", detail=False) == [
        "data/tree/a", "data/tree/b", "data/tree/c.txt", "data/tree/top.bin"]
    entries = {e["name"]: e for e in fs.ls("data/tree/")}
    assert entries["data/tree/a"]["type"] == "directory"
    assert entries["data/tree/top.bin"]["type"] == "file"
    assert entries["data/tree/top.bin"]["size"] == 44
    assert fs.ls("data/tree/top.bin", detail=False) == ["data/tree/top.bin"]
    files = ["data/tree/a/1.bin", "data/tree/a/2.bin", "data/tree/b/3.bin", "data/tree/c.txt",
             "data/tree/top.bin"]
    assert fs.find("data/tree") == files
    assert fs.find("sluice://data/tree/a", detail=True)["data/tree/a/2.bin"]["size"] == 22
    assert fs.find("data/tree", maxdepth=1) == ["data/tree/c.txt", "data/tree/top.bin"]
    assert set(fs.find("data/tree", withdirs=True)) == set(files) | {"data/tree/a",
                                                                     "data/tree/b"}
    assert fs.find("data/tree/top.bin") == ["data/tree/top.bin"]
    assert fs.find("data/nothing") == []
    # From the root: every mount's files (the root's listing names only the mounts).
    everything = fs.find("")
    assert set(files) <= set(everything) and all(n.startswith("data/") for n in everything)
    assert fs.find("sluice://") == everything
    assert fs.glob("data/tree/*/*.bin") == files[:3]
    assert fs.glob("sluice://data/tree/*.txt") == ["data/tree/c.txt"]
    assert fs.du("data/tree") == 11 + 22 + 33 + 44 + 55
    info = fs.info("data/tree/top.bin")
    assert (info["name"], info["size"], info["type"]) == ("data/tree/top.bin", 44, "file")
    assert info["version"] and fs.ukey("data/tree/top.bin") == info["version"]
    assert fs.modified("data/tree/top.bin").year >= 2020
    assert fs.info("data/tree/a")["type"] == "directory"
    assert fs.info("data")["type"] == "directory"
    assert fs.exists("data/tree/a/1.bin") and fs.exists("data/tree/a")
    assert not fs.exists("data/tree/zzz") and not fs.exists("nomount/x")
    assert fs.isdir("data/tree") and not fs.isdir("data/tree/c.txt")
    assert fs.isfile("data/tree/c.txt") and not fs.isfile("data/tree")
    with pytest.raises(FileNotFoundError):
        fs.ls("data/nothing")
    with pytest.raises(FileNotFoundError):
        fs.info("data/tree/zzz")


# ---------------------------------------------------------------- fsspec: writes


def test_written_files_read_back_and_land_in_the_store(fs, s3rver, tmp_path):
    data = rand(2 * MiB + 5, 7)
    with fsspec.open("sluice://data/out/w.bin", "wb") as f:
        for i in range(0, len(data), 300_000):
            f.write(data[i:i + 300_000])
    assert fs.cat_file("data/out/w.bin") == data
    assert s3_get(s3rver, "pyt/out/w.bin") == data

    fs.pipe_file("data/out/p.bin", b"piped")
    local = tmp_path / "local.bin"
    local.write_bytes(rand(1_500_000, 8))
    fs.put(str(local), "sluice://data/out/put.bin")
    assert s3_get(s3rver, "pyt/out/put.bin") == local.read_bytes()
    assert fs.cat("data/out/p.bin") == b"piped"

    # Past spill_size the buffer goes to a temporary file, streamed on close.
    spill = SluiceFileSystem(spill_size=MiB, skip_instance_cache=True)
    big = rand(3 * MiB + 17, 9)
    with spill.open("data/out/spill.bin", "wb") as f:
        for i in range(0, len(big), 256 * 1024):
            f.write(big[i:i + 256 * 1024])
    assert s3_get(s3rver, "pyt/out/spill.bin") == big
    assert fs.cat_file("data/out/spill.bin", MiB, 2 * MiB) == big[MiB:2 * MiB]

    with fs.transaction:  # written on commit only
        with fs.open("data/out/tx.bin", "wb") as f:
            f.write(b"later")
        assert not fs.exists("data/out/tx.bin")
    assert fs.cat("data/out/tx.bin") == b"later"
    fs.mkdir("data/out/newdir")  # directories are implied: nothing to do
    assert s3_keys(s3rver, "pyt/out/") == [
        "pyt/out/p.bin", "pyt/out/put.bin", "pyt/out/spill.bin", "pyt/out/tx.bin",
        "pyt/out/w.bin"]


def test_rm_deletes_files_and_trees(fs, s3rver):
    fs.pipe({"data/rm/a.bin": b"a", "data/rm/d/b.bin": b"b", "data/rm/d/e/c.bin": b"c",
             "data/rm/keep.bin": b"k"})
    fs.rm("sluice://data/rm/a.bin")
    assert not fs.exists("data/rm/a.bin")
    with pytest.raises(FileNotFoundError):
        fs.rm_file("data/rm/a.bin")
    with pytest.raises(IsADirectoryError):
        fs.rm_file("data/rm/d")
    fs.rm("data/rm/d", recursive=True)
    assert fs.find("data/rm") == ["data/rm/keep.bin"]
    assert s3_keys(s3rver, "pyt/rm/") == ["pyt/rm/keep.bin"]


# ---------------------------------------------------------------- errors


def test_errors_are_python_exceptions_of_the_right_types(fs, pyc, s3rver):
    with pytest.raises(FileNotFoundError):
        fsspec.open("sluice://data/f/missing.bin").open()
    with pytest.raises(FileNotFoundError):
        fs.cat_file("data/f/missing.bin")
    with pytest.raises(FileNotFoundError, match="nomount"):
        sluice.Client().read_all("/nomount/x")
    with pytest.raises(FileNotFoundError, match="nomount"):
        fs.pipe_file("nomount/x", b"x")
    with pytest.raises(IsADirectoryError):
        fs.open("data/tree", "rb")
    with pytest.raises(NotImplementedError):
        fs.open("data/f/small.txt", "ab")
    with pytest.raises(ValueError, match="port"):
        sluice.Client("localhost:notaport")
    w = Worker({"data": s3rver.uri("pyt")}, env=dict(os.environ, SLUICE_CLUSTER_TOKEN="t0ken"))
    try:
        with pytest.raises(PermissionError, match="token"):
            sluice.Client(f"127.0.0.1:{w.port}", token="wrong")
        assert sluice.Client(f"127.0.0.1:{w.port}", token="t0ken").read(
            "/data/f/small.txt", 0, 5) == b"hello"
    finally:
        w.stop()


def test_whole_reads_during_overwrites_return_one_version_whole(tmp_path):
    """read(p) sizes its buffer from a stat: an overwrite between the stat and the bytes
    must not give the new version cut to the old size (nor, for a length over 8 MiB, a
    short read). Over file://, whose writes are atomic (s3rver's are not: a GET during its
    PUT can see part of the new file)."""
    cluster = Cluster({"data": f"file://{tmp_path}"}, n=3)
    c = sluice.Client(cluster.address)
    path = "/data/rewrite/manifest.json"
    small, large = b"a" * 1000, b"b" * 3000
    c.write(path, small)
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            c.write(path, large if i % 2 == 0 else small)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    torn = []
    try:
        for i in range(300):
            try:
                got = c.read(path) if i % 2 == 0 else c.read(path, 0, 9 << 20)
            except OSError as e:  # it kept changing: allowed (ESTALE), mixed bytes are not
                assert e.errno == errno.ESTALE, e
                continue
            if got not in (small, large):
                torn.append(len(got))
    finally:
        stop.set()
        t.join()
    try:
        assert torn == []
        with pytest.raises(ValueError, match="directory"):
            c.read("/data/rewrite")
    finally:
        cluster.stop()


def test_an_unreachable_cluster_is_a_connection_error_naming_it(pyc, s3rver):
    port = free_port()
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        sluice.Client(f"127.0.0.1:{port}")
    dead = SluiceFileSystem(cluster=f"127.0.0.1:{port}", skip_instance_cache=True)
    with pytest.raises(ConnectionError, match="no Sluice worker answers"):
        dead.cat_file("data/f/small.txt")

    # A cluster that goes away after the client connected (no direct under-store reads).
    c = Cluster({"data": s3rver.uri("pyt")}, n=1)
    client = sluice.Client(c.address, ufs_fallback=False, connect_timeout=0.5, deadline=10)
    assert client.read_all("/data/f/small.txt") == b"hello sluice\n"
    c.stop()
    with pytest.raises(ConnectionError) as e:
        client.read_all("/data/f/small.txt")
    assert isinstance(e.value, OSError) and "127.0.0.1" in str(e.value)


# ---------------------------------------------------------------- PyTorch


def loader_of(ds, sampler, **kw):
    from torch.utils.data import DataLoader
    return DataLoader(ds, batch_size=8, sampler=sampler, num_workers=2, collate_fn=list, **kw)


def test_random_order_is_random_samplers_order():
    import torch
    from sluice.torch import random_order
    g = torch.Generator()
    g.manual_seed(1234)
    assert random_order(97, 1234) == list(torch.utils.data.RandomSampler(range(97), generator=g))


def test_the_prefetch_sampler_sends_a_window_ahead_in_order_in_chunks():
    from sluice.torch import PrefetchSampler

    class Recorder:
        def __init__(self):
            self.calls = []

        def prefetch(self, paths):
            self.calls.append(list(paths))

    class Listing:  # what PrefetchSampler needs of a dataset
        paths = [f"/data/p{i}" for i in range(100)]
        recorder = Recorder()

        def client(self):
            return self.recorder

        def __len__(self):
            return len(self.paths)

    ds = Listing()
    window, chunk = 10, 4
    s = PrefetchSampler(ds, shuffle=True, seed=5, window=window, chunk=chunk)
    order = s.order()
    yielded = []
    for k, i in enumerate(s):
        yielded.append(i)
        sent = sum(ds.recorder.calls, [])
        assert sent == [ds.paths[j] for j in order[:len(sent)]]  # in the epoch's order
        assert min(100, k + window) <= len(sent) <= k + window + chunk - 1
    assert yielded == order
    assert sum(ds.recorder.calls, []) == [ds.paths[j] for j in order]
    assert len(ds.recorder.calls[0]) == window
    assert all(len(c) == chunk for c in ds.recorder.calls[1:-1])
    assert len(ds.recorder.calls) == 1 + math.ceil((100 - window) / chunk)
    s.set_epoch(1)
    assert s.order() != order and sorted(s.order()) == sorted(order)

    # A wrapped DistributedSampler hears of the epoch too: it reshuffles by it.
    from torch.utils.data.distributed import DistributedSampler
    d = PrefetchSampler(ds, DistributedSampler(range(100), num_replicas=1, rank=0, seed=3))
    d.set_epoch(0)
    first = d.order()
    d.set_epoch(1)
    second = d.order()
    plain = DistributedSampler(range(100), num_replicas=1, rank=0, seed=3)
    plain.set_epoch(1)
    assert second != first and second == list(plain)


def test_a_dataloader_with_two_workers_reads_every_sample(pyc, objects):
    import torch
    from sluice.torch import PrefetchSampler, SluiceDataset, random_order
    ds = SluiceDataset("sluice://data/ds", transform=record)
    keys = sorted(k for k in objects if k.startswith("ds/"))
    assert ds.paths == [f"/data/{k}" for k in keys] and len(ds) == 64
    copy = pickle.loads(pickle.dumps(ds))  # no Client in the pickle
    assert copy[3][1] == objects[keys[3]]
    sampler = PrefetchSampler(ds, shuffle=True, seed=7, window=16)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        got = [s for batch in loader_of(ds, sampler) for s in batch]
        assert [d for _, d in got] == [objects[keys[i]] for i in random_order(64, 7 + epoch)]
        pids = {p for p, _ in got}
        assert len(pids) == 2 and os.getpid() not in pids
    # Spawned workers get the dataset pickled, and make their own Client.
    plain = torch.utils.data.SequentialSampler(ds)
    got = [s for batch in loader_of(ds, PrefetchSampler(ds, plain, window=8),
                                    multiprocessing_context="spawn") for s in batch]
    assert [d for _, d in got] == [objects[k] for k in keys]


def wait_total(cluster, metric, at_least, timeout=60):
    deadline = time.time() + timeout
    while (v := cluster.total(metric)) < at_least:
        assert time.time() < deadline, f"{metric} = {v} < {at_least}"
        time.sleep(0.05)
    return v


def read_epoch(ds, sampler):
    return [d for batch in loader_of(ds, sampler) for d in batch]


def test_epoch_prefetch_leaves_the_first_epoch_no_under_store_reads(pyc, objects):
    """The deterministic form of "the first epoch does not wait on the under store": the
    coming epoch is prefetched whole and loaded before the loader starts; the loader's reads
    then add no under-store reads, where the same epoch over a cold prefix without prefetch
    adds one per sample."""
    from sluice.torch import PrefetchSampler, SluiceDataset
    ufs, loaded, hits = ("sluice_ufs_reads_total", "sluice_prefetch_loaded_total",
                         "sluice_cache_page_hits_total")

    import torch
    control = SluiceDataset("sluice://data/cold_b")
    g = torch.Generator()
    g.manual_seed(3)
    before = pyc.total(ufs)
    got = read_epoch(control, torch.utils.data.RandomSampler(control, generator=g))
    assert sorted(got) == sorted(objects[k] for k in objects if k.startswith("cold_b/"))
    assert pyc.total(ufs) - before == N_COLD  # without prefetch: one per sample

    ds = SluiceDataset("sluice://data/cold_a")
    sampler = PrefetchSampler(ds, shuffle=True, seed=3, window=8)
    loaded0, ufs0 = pyc.total(loaded), pyc.total(ufs)
    order = sampler.prefetch_epoch()
    wait_total(pyc, loaded, loaded0 + N_COLD)
    assert pyc.total(ufs) - ufs0 == N_COLD  # the prefetch read each sample once
    ufs1, hits1 = pyc.total(ufs), pyc.total(hits)
    got = read_epoch(ds, sampler)
    assert got == [objects[f"cold_a/s{i:03}.bin"] for i in order]
    assert pyc.total(ufs) == ufs1  # the loader waited on the under store for nothing
    assert pyc.total(hits) - hits1 >= N_COLD
    assert pyc.total(loaded) - loaded0 == N_COLD


def test_windowed_prefetch_reads_each_sample_once_from_the_store(pyc, objects):
    from sluice.torch import PrefetchSampler, SluiceDataset
    ds = SluiceDataset("sluice://data/win")
    sampler = PrefetchSampler(ds, shuffle=True, seed=4, window=8, chunk=4)
    queued0 = pyc.total("sluice_prefetch_queued_total")
    loaded0 = pyc.total("sluice_prefetch_loaded_total")
    order = sampler.order()
    got = read_epoch(ds, sampler)
    assert got == [objects[f"win/s{i:03}.bin"] for i in order]
    assert sampler.prefetcher.calls == 1 + math.ceil((N_COLD - 8) / 4)
    assert pyc.total("sluice_prefetch_queued_total") - queued0 == N_COLD
    wait_total(pyc, "sluice_prefetch_loaded_total", loaded0 + N_COLD)
