"""Black-box tests of a Sluice cluster: real workers over a real s3rver, static and etcd
membership, read through the client library (the `sluice` CLI) and through S3."""
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import (SLUICE, Cluster, Etcd, Worker, run_sluice, s3_client, upload,
                      yaml_config)

N_FILES = 2000


@pytest.fixture(scope="module")
def tree(s3rver):
    """2,000 objects of 1 B to 40 KiB under tree/, plus three 3 MiB ones (several blocks
    each at the tests' 1 MiB block size), uploaded straight to s3rver."""
    rng = random.Random(7)
    objects = {f"tree/d{i % 20}/f{i}.bin": rng.randbytes(rng.randint(1, 40 * 1024))
               for i in range(N_FILES - 3)}
    for i in range(3):
        objects[f"tree/big/b{i}.bin"] = rng.randbytes(3 * 1024 * 1024 + 17 * i)
    upload(s3rver, objects)
    return objects


@pytest.fixture(scope="module")
def config_file():
    cfg = "lease_ttl: 2s\nforward_timeout: 2s\nplacement:\n  block_size: 1MiB\n"
    with yaml_config(cfg, prefix="sluice-cluster-cfg-") as path:
        yield path


def make_cluster(s3rver, config_file, n=3, etcd=None):
    return Cluster({"data": s3rver.uri()}, n=n, etcd=etcd, extra=["--config", config_file])


@pytest.fixture()
def cluster(s3rver, tree, config_file):
    c = make_cluster(s3rver, config_file)
    yield c
    c.stop()


@pytest.fixture()
def etcd():
    e = Etcd()
    yield e
    e.stop()


def check_tree(out_dir, tree, prefix="tree/"):
    """Every object of the tree is in out_dir, byte for byte; returns how many."""
    n = 0
    for key, data in tree.items():
        with open(os.path.join(out_dir, key[len(prefix):]), "rb") as f:
            assert f.read() == data, key
        n += 1
    return n


def copy_tree(env, dest, extra=()):
    return subprocess.run([SLUICE, "cp", "-r", "-q", "sluice://data/tree", dest, *extra], env=env,
                          capture_output=True, text=True, timeout=300)


def test_tree_read_through_the_client_matches_the_source(cluster, tree, sluice_env, tmp_path):
    env = cluster.env(sluice_env)
    r = copy_tree(env, str(tmp_path / "cold"))
    assert r.returncode == 0, r.stderr
    assert check_tree(tmp_path / "cold", tree) == N_FILES
    # Every worker owns and fetched a share; nobody fetched an object twice.
    reads = [w.metrics()["sluice_ufs_reads_total"] for w in cluster.workers]
    assert all(r > 0 for r in reads), reads
    r = copy_tree(env, str(tmp_path / "hot"))
    assert r.returncode == 0, r.stderr
    assert check_tree(tmp_path / "hot", tree) == N_FILES
    assert [w.metrics()["sluice_ufs_reads_total"] for w in cluster.workers] == reads


def test_ls_stat_cat_status(cluster, tree, sluice_env):
    env = cluster.env(sluice_env)
    r = run_sluice(["ls", "/data/tree"], env)
    assert r.returncode == 0, r.stderr
    assert "/data/tree/d0/" in r.stdout and "/data/tree/big/" in r.stdout
    r = run_sluice(["ls", "--json", "-r", "/data/tree/d3"], env)
    assert r.returncode == 0, r.stderr
    import json
    listed = {o["path"] for o in json.loads(r.stdout)}
    assert listed == {"/" + "data/" + k for k in tree if k.startswith("tree/d3/")}
    r = run_sluice(["stat", "--json", "/data/tree/big/b1.bin"], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["size"] == len(tree["tree/big/b1.bin"])
    r = subprocess.run([SLUICE, "cat", "sluice://data/tree/big/b2.bin"], env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout == tree["tree/big/b2.bin"]
    r = run_sluice(["status", "--json"], env)
    assert r.returncode == 0, r.stderr
    workers = json.loads(r.stdout)["workers"]
    assert sorted(w["id"] for w in workers) == sorted(cluster.address.split(","))
    assert all(w["reachable"] and w["state"] == "ready" and w["capacity_bytes"] > 0
               for w in workers)
    r = run_sluice(["stat", "/data/tree/nope"], env)
    assert r.returncode != 0 and "NotFound" in r.stderr


def test_write_through_the_client_lands_in_the_store(cluster, s3rver, sluice_env, tmp_path):
    env = cluster.env(sluice_env)
    src = tmp_path / "up"
    (src / "sub").mkdir(parents=True)
    files = {"a.bin": os.urandom(1000), "sub/b.bin": os.urandom(2 * 1024 * 1024 + 5)}
    for name, data in files.items():
        (src / name).write_bytes(data)
    r = run_sluice(["cp", "-r", str(src), "sluice://data/uploaded"], env)
    assert r.returncode == 0, r.stderr
    c = s3_client(s3rver.endpoint)
    for name, data in files.items():
        assert c.get_object(Bucket=s3rver.bucket, Key=f"uploaded/{name}")["Body"].read() == data


def test_kill_9_of_a_worker_mid_read_fails_no_read(cluster, tree, sluice_env, tmp_path):
    env = cluster.env(sluice_env)
    dest = tmp_path / "out"
    proc = subprocess.Popen([SLUICE, "cp", "-r", "-q", "sluice://data/tree", str(dest)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Kill a worker once the copy is well under way.
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if dest.exists() and sum(len(f) for _, _, f in os.walk(dest)) > 200:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the copy finished before the kill: make the tree bigger"
    cluster.workers[1].kill()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert check_tree(dest, tree) == N_FILES


def test_s3_clients_can_use_any_worker(cluster, tree):
    keys = sorted(k for k in tree if "/big/" not in k)[:60]  # one page each
    for w in cluster.workers:
        c = s3_client(w.endpoint)
        for k in keys:
            assert c.get_object(Bucket="data", Key=k)["Body"].read() == tree[k]
    # Each object was fetched from the store once, by its owner: the others forwarded.
    assert cluster.total("sluice_forwarded_requests_total") >= len(keys)
    assert cluster.total("sluice_ufs_reads_total") == len(keys)


def test_s3_get_of_a_large_object_is_striped_over_the_cluster(cluster, s3rver):
    # 13 blocks of 1 MiB: the ring is built over random ports, so with only four blocks
    # one worker owned them all about once in 27 runs and nothing was striped. With 13
    # the chance is 3 / 3^13 (about 2e-6).
    key = "striped/s.bin"
    data = random.Random(11).randbytes(12 * 1024 * 1024 + 5)
    upload(s3rver, {key: data})
    c = s3_client(cluster.workers[0].endpoint)
    assert c.get_object(Bucket="data", Key=key)["Body"].read() == data
    r = c.get_object(Bucket="data", Key=key, Range="bytes=1000000-2200000")
    assert r["Body"].read() == data[1000000:2200001]
    assert cluster.total("sluice_block_remote_reads_total") > 0
    # The blocks were fetched by their owners, each once: more than one worker read the store.
    readers = [w for w in cluster.workers if w.metrics()["sluice_ufs_read_bytes_total"] > 0]
    assert len(readers) >= 2
    assert cluster.total("sluice_ufs_read_bytes_total") == len(data)


def test_a_write_through_one_worker_is_seen_through_every_other(cluster):
    """Members drop their cached stats and listings when another member writes (well
    inside the 30 s metadata TTL the cluster runs with)."""
    clients = [s3_client(w.endpoint) for w in cluster.workers]
    old = os.urandom(3 * 1024 * 1024 + 5)
    clients[0].put_object(Bucket="data", Key="inv/big.bin", Body=old)
    for c in clients:  # every member caches the stat (and its blocks) of the old version
        assert c.get_object(Bucket="data", Key="inv/big.bin")["Body"].read() == old
        assert [o["Key"] for o in c.list_objects_v2(Bucket="data", Prefix="inv/")["Contents"]] \
            == ["inv/big.bin"]
    new = os.urandom(3 * 1024 * 1024 + 9)
    clients[2].put_object(Bucket="data", Key="inv/big.bin", Body=new)
    clients[2].put_object(Bucket="data", Key="inv/more.bin", Body=b"x")
    time.sleep(0.5)  # the invalidations are sent in the background
    for c in clients:
        assert c.get_object(Bucket="data", Key="inv/big.bin")["Body"].read() == new
        keys = [o["Key"] for o in c.list_objects_v2(Bucket="data", Prefix="inv/")["Contents"]]
        assert keys == ["inv/big.bin", "inv/more.bin"]
    clients[1].delete_object(Bucket="data", Key="inv/more.bin")
    time.sleep(0.5)
    for c in clients:
        keys = [o["Key"] for o in c.list_objects_v2(Bucket="data", Prefix="inv/")["Contents"]]
        assert keys == ["inv/big.bin"]


def test_s3_client_survives_a_dead_owner(cluster, tree):
    cluster.workers[2].kill()
    c = s3_client(cluster.workers[0].endpoint)
    for k in sorted(tree)[100:160]:
        assert c.get_object(Bucket="data", Key=k)["Body"].read() == tree[k]
    assert cluster.workers[0].metrics()["sluice_forward_fallbacks_total"] > 0


def test_s3_client_survives_a_hung_owner(cluster, tree):
    """An owner that accepts connections but answers nothing (SIGSTOP): a request forwarded
    to it gives up after forward_timeout (2 s here) and is served where it landed, and the
    owner is skipped for a while. A client's 10 s read timeout is never reached."""
    hung = cluster.workers[2]
    os.kill(hung.proc.pid, signal.SIGSTOP)
    try:
        c = s3_client(cluster.workers[0].endpoint, read_timeout=10, max_attempts=1)
        for k in sorted(tree)[100:160]:
            assert c.get_object(Bucket="data", Key=k)["Body"].read() == tree[k]
        assert cluster.workers[0].metrics()["sluice_forward_fallbacks_total"] > 0
        # Writes are not served twice, so one to the hung owner fails (502); but it marks
        # the owner down too, and the client's retry is written through another worker.
        time.sleep(3.5)  # the owner's down mark from the reads above has passed
        w = s3_client(cluster.workers[0].endpoint, read_timeout=10, max_attempts=3)
        for i in range(12):
            w.put_object(Bucket="data", Key=f"hung-put/k{i}", Body=b"v%d" % i)
        for i in range(12):
            assert w.get_object(Bucket="data", Key=f"hung-put/k{i}")["Body"].read() == b"v%d" % i
    finally:
        os.kill(hung.proc.pid, signal.SIGCONT)


def test_multipart_uploads_go_where_they_were_created(cluster):
    """Uploads created while their path's owner was down are kept by the member that served
    the create; once the owner is back, their parts, completion and abort, sent through
    any member, still reach that member (the upload id names it), not the ring's owner."""
    keys = [f"mp-route/k{i}" for i in range(12)]
    cluster.workers[2].kill()
    via0 = s3_client(cluster.workers[0].endpoint)
    uploads = {k: via0.create_multipart_upload(Bucket="data", Key=k)["UploadId"] for k in keys}
    cluster.workers[2].start()  # the same port: the ring is as before
    via1 = s3_client(cluster.workers[1].endpoint)
    part = b"p" * 1000
    for i, k in enumerate(keys):
        c = (via0, via1)[i % 2]
        etag = c.upload_part(Bucket="data", Key=k, UploadId=uploads[k], PartNumber=1,
                             Body=part)["ETag"]
        if k.endswith("k11"):
            c.abort_multipart_upload(Bucket="data", Key=k, UploadId=uploads[k])
            continue
        c.complete_multipart_upload(Bucket="data", Key=k, UploadId=uploads[k], MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": etag}]})
        assert via1.get_object(Bucket="data", Key=k)["Body"].read() == part


def test_ring_mismatch_is_reported(cluster):
    req = urllib.request.Request(cluster.workers[0].endpoint + "/v1/stat?path=/data/tree/d0/f0.bin",
                                 headers={"X-Sluice-Ring": "0123456789abcdef"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 409
    assert b"RingMismatch" in e.value.read()


def test_a_worker_with_other_ring_settings_is_reported_not_missed(cluster, tree, s3rver,
                                                                  sluice_env, tmp_path):
    odd = cluster.workers[2]
    odd.stop()
    cfg = tmp_path / "ketama.yaml"
    cfg.write_text("placement:\n  policy: ketama\n  block_size: 1MiB\n")
    cluster.workers[2] = Worker({"data": s3rver.uri()}, port=odd.port, memory="64MiB",
                                extra=["--peers", cluster.peers, "--config", str(cfg)])
    env = cluster.env(sluice_env)
    env["SLUICE_CLUSTER"] = f"127.0.0.1:{cluster.workers[0].port}"  # the cluster's settings
    errors = []
    for key in sorted(tree)[:60]:
        r = subprocess.run([SLUICE, "cat", "/data/" + key], env=env, capture_output=True,
                           timeout=60)
        if r.returncode != 0:
            errors.append(r.stderr.decode())
        else:
            assert r.stdout == tree[key]
    # The paths the odd worker owns fail loudly, naming the mismatch; the rest are served.
    assert errors and len(errors) < 60
    assert all("ring settings differ" in e for e in errors), errors[0]


def test_wrong_or_dead_cluster_gives_a_clear_error(cluster, sluice_env):
    env = dict(sluice_env)
    env.pop("SLUICE_CLUSTER", None)
    r = run_sluice(["ls", "/"], env)
    assert r.returncode != 0 and "no cluster given" in r.stderr
    r = run_sluice(["ls", "/", "--cluster", "nonsense"], env)
    assert r.returncode == 2 and "nonsense" in r.stderr
    r = run_sluice(["ls", "/", "--cluster", "127.0.0.1:1"], env)
    assert r.returncode != 0 and "no Sluice worker answers" in r.stderr and "127.0.0.1:1" in r.stderr
    for w in cluster.workers:
        w.kill()
    start = time.time()
    r = run_sluice(["cat", "/data/tree/d0/f0.bin"], cluster.env(sluice_env))
    assert r.returncode != 0 and "no Sluice worker answers" in r.stderr
    assert time.time() - start < 10


class ReadLoop:
    """Copies the tree again and again in the background, counting failed copies."""

    def __init__(self, env, tree, tmp):
        self.env, self.tree, self.tmp = env, tree, tmp
        self.rounds = 0
        self.errors = []
        self.stopping = False
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stopping:
            dest = os.path.join(self.tmp, f"round{self.rounds}")
            r = copy_tree(self.env, dest)
            if r.returncode != 0:
                self.errors.append(r.stderr)
            else:
                try:
                    check_tree(dest, self.tree)
                except AssertionError as e:
                    self.errors.append(f"mismatch: {e}")
            shutil.rmtree(dest, ignore_errors=True)
            self.rounds += 1

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=300)
        return self.rounds


def wait_members(env, n, timeout=15):
    import json
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = run_sluice(["status", "--json"], env)
        if r.returncode == 0 and len(json.loads(r.stdout)["workers"]) == n:
            return
        time.sleep(0.2)
    raise AssertionError(f"the cluster did not reach {n} members")


def test_etcd_cluster_uses_a_worker_added_under_load(s3rver, tree, config_file, etcd, sluice_env,
                                                     tmp_path):
    cluster = make_cluster(s3rver, config_file, etcd=etcd)
    try:
        env = cluster.env(sluice_env)
        wait_members(env, 3)
        loop = ReadLoop(env, tree, str(tmp_path))
        time.sleep(1.0)
        new = cluster.add_worker()
        wait_members(env, 4)
        rounds = loop.rounds
        while loop.rounds < rounds + 2 and not loop.errors:
            time.sleep(0.2)
        loop.stop()
        assert loop.errors == []
        assert new.metrics()["sluice_cache_page_misses_total"] + \
            new.metrics()["sluice_cache_page_hits_total"] > 0, "the new worker served nothing"
    finally:
        cluster.stop()


def test_etcd_clients_leave_out_a_worker_with_other_ring_settings(s3rver, tree, config_file,
                                                                  etcd, sluice_env, tmp_path):
    """A worker registered with other placement settings is left out by the workers (they
    say so in their logs) and by clients finding the cluster in etcd: the client sees two
    members, and every read succeeds (sent to the odd worker, a third would be refused)."""
    cluster = make_cluster(s3rver, config_file, etcd=etcd)
    try:
        odd = cluster.workers[2]
        odd.stop()
        cfg = tmp_path / "ketama.yaml"
        cfg.write_text("lease_ttl: 2s\nplacement:\n  policy: ketama\n  block_size: 1MiB\n")
        cluster.workers[2] = Worker({"data": s3rver.uri()}, port=odd.port, memory="64MiB",
                                    extra=["--etcd", etcd.url, "--advertise",
                                           f"127.0.0.1:{odd.port}", "--config", str(cfg)])
        env = dict(sluice_env)
        env.pop("SLUICE_CLUSTER", None)
        env["SLUICE_ETCD"] = etcd.url
        wait_members(env, 2)
        for key in sorted(tree)[:60]:
            r = subprocess.run([SLUICE, "cat", "/data/" + key], env=env, capture_output=True,
                               timeout=60)
            assert r.returncode == 0, r.stderr.decode()
            assert r.stdout == tree[key]
    finally:
        cluster.stop()


def test_etcd_restart_under_load_changes_nothing_for_readers(s3rver, tree, config_file, etcd,
                                                            sluice_env, tmp_path):
    cluster = make_cluster(s3rver, config_file, etcd=etcd)
    try:
        env = cluster.env(sluice_env)
        wait_members(env, 3)
        loop = ReadLoop(env, tree, str(tmp_path))
        time.sleep(1.0)
        etcd.kill()
        time.sleep(3.0)  # longer than the lease: the workers must keep serving regardless
        etcd.start()
        rounds = loop.rounds
        while loop.rounds < rounds + 2 and not loop.errors:
            time.sleep(0.2)
        loop.stop()
        assert loop.errors == []
        wait_members(env, 3)
    finally:
        cluster.stop()
