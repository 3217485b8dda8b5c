"""Black-box tests of the dataset operations (issue 6): `sluice load` as a job on every
worker, `free`, `pin`/`unpin`, TTL rules and mount quotas, against real workers over a
real s3rver. Under-store traffic is counted by the workers' metrics, never timed."""
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import (SLUICE, Cluster, Worker, free_port, run_sluice, s3_client, upload,
                      yaml_config)

MiB = 1024 * 1024


def sluice(env, *args, timeout=300):
    return run_sluice(list(args), env, timeout=timeout)


def detached(env, path, *extra):
    """Starts `sluice load -r PATH --detach EXTRA...`; returns the job's id."""
    r = sluice(env, "load", "-r", path, "--detach", *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def loaded_detached(env, path):
    """Starts `sluice load -r PATH --detach` and waits until the job is done; its id."""
    job = detached(env, path)
    deadline = time.time() + 30
    while json.loads(sluice(env, "load", "--status", job, "--json").stdout)["state"] != "done":
        assert time.time() < deadline
        time.sleep(0.1)
    return job


def worker_env(w):
    env = dict(os.environ)
    env["SLUICE_CLUSTER"] = f"127.0.0.1:{w.port}"
    return env


def copy_out(env, src, tmp_path):
    dest = tmp_path / f"out-{time.monotonic_ns()}"
    r = sluice(env, "cp", "-r", f"sluice:/{src}", str(dest))
    assert r.returncode == 0, r.stderr
    return dest


def read_tree(dest):
    out = {}
    for d, _, names in os.walk(dest):
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                out[os.path.relpath(os.path.join(d, n), dest)] = f.read()
    return out


# ---------------------------------------------------------------- load


@pytest.fixture(scope="module")
def five_thousand(s3rver):
    rng = random.Random(61)
    objects = {f"ld/d{i % 25}/f{i}.bin": rng.randbytes(rng.randint(1, 6000)) for i in range(5000)}
    upload(s3rver, objects)
    return objects


def test_load_survives_kill_9_of_a_worker_and_a_full_read_then_misses_nothing(
        s3rver, five_thousand, tmp_path):
    c = Cluster({"data": s3rver.uri()}, n=3, disk=True)
    try:
        env = c.env()
        victim = c.workers[1]
        proc = subprocess.Popen([SLUICE, "load", "-r", "/data/ld", "--json", "--wait", "90s",
                                 "--concurrency", "4"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Kill the victim once it has loaded part of its share (and checkpointed a page).
        deadline = time.time() + 60
        while victim.metrics().get("sluice_load_files_total", 0) < 1200:
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "the load made no progress"
            time.sleep(0.05)
        victim.kill()
        time.sleep(1.0)
        victim.start()  # same port, same cache dir: it resumes its part
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, (out, err)
        summary = json.loads(out)
        assert summary["state"] == "done" and summary["failed"] == 0
        assert summary["files_done"] >= len(five_thousand)  # resumed work may count twice
        assert summary["listed"] == len(five_thousand)
        assert "resuming load job" in victim.logs()

        before = c.total("sluice_ufs_reads_total")
        dest = copy_out(env, "data/ld", tmp_path)
        assert c.total("sluice_ufs_reads_total") - before == 0
        got = read_tree(dest)
        assert len(got) == len(five_thousand)
        assert all(got[k[len("ld/"):]] == v for k, v in five_thousand.items())
    finally:
        c.stop()


def test_a_dead_lister_does_not_stall_the_load(s3rver, five_thousand, tmp_path):
    import urllib.request
    c = Cluster({"data": s3rver.uri()}, n=3, disk=True)
    try:
        env = c.env()
        job = detached(env, "/data/ld", "--concurrency", "2")
        # One member lists for the job; the others read its pages and name it.
        views = [json.loads(urllib.request.urlopen(f"{w.endpoint}/v1/load?id={job}",
                                                   timeout=10).read()) for w in c.workers]
        names = [v["lister"] for v in views]
        assert names.count("") == 1 and len(set(names) - {""}) == 1, names
        lister = c.workers[names.index("")]
        assert set(names) - {""} == {f"127.0.0.1:{lister.port}"}
        deadline = time.time() + 60
        while c.total("sluice_load_files_total") < 1000:
            assert time.time() < deadline, "the load made no progress"
            time.sleep(0.05)
        lister.kill()
        # The others go on, listing the store themselves once they need their next page.
        others = [w for w in c.workers if w is not lister]
        deadline = time.time() + 60
        while not any("listing it here" in w.logs() for w in others):
            assert time.time() < deadline, "no member listed the store itself"
            time.sleep(0.1)
        lister.start()  # and it resumes its own part
        deadline = time.time() + 180
        while True:
            st = sluice(env, "load", "--status", job, "--json")
            summary = json.loads(st.stdout)
            if summary["state"] != "running":
                break
            assert time.time() < deadline, summary
            time.sleep(0.5)
        assert summary["state"] == "done" and summary["failed"] == 0, summary
        assert summary["listed"] == len(five_thousand)
        # Nothing was missed: a full read causes no under-store read.
        reads = c.total("sluice_ufs_reads_total")
        got = read_tree(copy_out(env, "data/ld", tmp_path))
        assert c.total("sluice_ufs_reads_total") == reads
        assert len(got) == len(five_thousand)
        assert all(got[k[len("ld/"):]] == v for k, v in five_thousand.items())
    finally:
        c.stop()


@pytest.fixture()
def cluster(s3rver):
    c = Cluster({"data": s3rver.uri()}, n=3)
    yield c
    c.stop()


def test_detach_status_and_stop(s3rver, cluster):
    upload(s3rver, {f"slow/f{i}.bin": os.urandom(256 * 1024) for i in range(40)})
    env = cluster.env()
    r = sluice(env, "load", "-r", "/data/slow", "--detach", "--bandwidth", "1MiB/s")
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip()
    assert job.startswith("load-")
    st = sluice(env, "load", "--status", job, "--json")
    assert st.returncode == 0, st.stderr
    assert json.loads(st.stdout)["state"] == "running"
    stop = sluice(env, "load", "--stop", job, "--json")
    summary = json.loads(stop.stdout)
    assert summary["state"] == "stopped"
    assert summary["files_done"] < 40  # 10 MiB at 1 MiB/s: far from done
    assert stop.returncode == 1  # not everything was loaded


def test_status_and_stop_of_a_job_a_restarted_worker_forgot(s3rver):
    """A worker restarted without its state (no cache dir) no longer knows a finished
    job: --status reports the others' result instead of "incomplete" for ever, and --stop
    of a job no worker knows ends with an error instead of waiting for ever."""
    upload(s3rver, {f"forgot/f{i}.bin": os.urandom(3000) for i in range(6)})
    c = Cluster({"data": s3rver.uri()}, n=2)
    try:
        env = c.env()
        job = loaded_detached(env, "/data/forgot")
        c.workers[0].kill()
        c.workers[0].start()
        st = sluice(env, "load", "--status", job, "--json")
        assert st.returncode == 0, st.stdout + st.stderr
        summary = json.loads(st.stdout)
        assert summary["state"] == "done"
        assert sorted(w.get("state") for w in summary["workers"]) == ["done", "unknown"]
        c.workers[1].kill()
        c.workers[1].start()
        stop = sluice(env, "load", "--stop", job, timeout=30)
        assert stop.returncode != 0
    finally:
        c.stop()


def test_a_checkpoint_cut_by_a_crash_is_a_failed_part_not_a_done_one(s3rver):
    """A worker whose checkpoint of a job cannot be read after a restart (a crash cut it)
    does not know its part: --status says failed and why, never done."""
    upload(s3rver, {f"cutckpt/f{i}.bin": os.urandom(3000) for i in range(6)})
    c = Cluster({"data": s3rver.uri()}, n=2, disk=True)
    try:
        env = c.env()
        job = loaded_detached(env, "/data/cutckpt")
        w = c.workers[0]
        ckpt = os.path.join(c.disk, str(w.port), "state", "jobs", job + ".json")
        assert os.path.exists(ckpt)
        w.kill()
        with open(ckpt, "r+b") as f:
            f.truncate(10)
        w.start()
        st = sluice(env, "load", "--status", job, "--json")
        assert st.returncode != 0, st.stdout + st.stderr
        summary = json.loads(st.stdout)
        assert summary["state"] == "failed", summary
        states = sorted(x.get("state") for x in summary["workers"])
        assert states == ["done", "failed"], summary
        assert any("checkpoint" in e["error"] for e in summary["errors"]), summary
    finally:
        c.stop()


def test_a_worker_that_leaves_an_etcd_cluster_makes_its_job_incomplete(s3rver):
    """Members found through etcd: a worker killed for good drops out of the cluster when
    its lease ends, and its part (its cached pages) with it. The job it had a part in is
    then incomplete, naming it, never done."""
    from conftest import Etcd
    upload(s3rver, {f"leaver/f{i}.bin": os.urandom(3000) for i in range(12)})
    etcd = Etcd()
    c = Cluster({"data": s3rver.uri()}, n=3, etcd=etcd)
    try:
        env = c.env()
        deadline = time.time() + 30  # every worker sees the three (registration takes a refresh)
        while not all(len(json.loads(urllib.request.urlopen(
                w.endpoint + "/v1/cluster", timeout=5).read())["members"]) == 3
                for w in c.workers):
            assert time.time() < deadline
            time.sleep(0.2)
        job = loaded_detached(env, "/data/leaver")
        gone = c.workers[2]
        gone.kill()
        deadline = time.time() + 30  # its lease (5 s) ends; the clients' view drops it
        while True:
            st = sluice(env, "load", "--status", job, "--json")
            summary = json.loads(st.stdout)
            ids = [w["id"] for w in summary["workers"]]
            errors = [w.get("error", "") for w in summary["workers"]]
            if any("left the cluster" in e for e in errors):
                break
            assert time.time() < deadline, summary
            time.sleep(0.5)
        assert st.returncode != 0
        assert summary["state"] == "incomplete", summary
        assert f"127.0.0.1:{gone.port}" in ids
        follow = sluice(env, "load", "--stop", job, "--wait", "1s", timeout=60)
        assert follow.returncode != 0
        assert f"127.0.0.1:{gone.port}" in follow.stderr, follow.stderr
    finally:
        c.stop()
        etcd.stop()


def test_a_stop_reaches_a_worker_that_was_down_when_it_was_sent(s3rver):
    """`--stop` while a worker is down: that worker resumes the job from its checkpoint when
    it returns, so the stop is sent again; it does not load its whole share after the
    stop (and the command does not wait for it to)."""
    upload(s3rver, {f"stopdown/f{i:02}.bin": os.urandom(100_000) for i in range(30)})
    c = Cluster({"data": s3rver.uri()}, n=2, disk=True)
    try:
        env = c.env()
        job = detached(env, "/data/stopdown", "--bandwidth", "200KB")
        time.sleep(1.5)  # both have loaded a little and written a checkpoint
        down = c.workers[1]
        down.kill()
        stop = subprocess.Popen([SLUICE, "load", "--stop", job, "--wait", "60s", "--json"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(1)
        down.start()  # resumes the job ("running"): the follower tells it again
        out, err = stop.communicate(timeout=30)
        summary = json.loads(out)
        assert summary["state"] == "stopped", (summary, err)
        states = {w["id"]: w.get("state") for w in summary["workers"]}
        assert states[f"127.0.0.1:{down.port}"] == "stopped", summary
        assert summary["files_done"] < 30
    finally:
        c.stop()


def test_metadata_only_load_caches_stats_not_bytes(s3rver, cluster):
    upload(s3rver, {f"meta/f{i}.bin": b"x" * 1000 for i in range(50)})
    env = cluster.env()
    pages = cluster.total("sluice_page_store_pages")
    r = sluice(env, "load", "-r", "/data/meta", "--metadata-only", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["files_done"] == 50 and s["bytes_done"] == 0
    assert cluster.total("sluice_page_store_pages") == pages
    stats = cluster.total("sluice_ufs_operations_total{mount=\"data\",op=\"stat\"}")
    for i in range(50):
        assert sluice(env, "stat", f"/data/meta/f{i}.bin").returncode == 0
    assert cluster.total("sluice_ufs_operations_total{mount=\"data\",op=\"stat\"}") == stats


def test_a_cluster_lists_each_page_of_a_load_once(s3rver, cluster):
    # 3 pages of 1,000; a "dir/" marker key is an object to S3 (and is loaded as one).
    upload(s3rver, {f"once/f{i:04d}": b"y" * 10 for i in range(2499)})
    upload(s3rver, {"once/sub/": b""})
    env = cluster.env()
    lists = 'sluice_ufs_operations_total{mount="data",op="list"}'
    before = cluster.total(lists)
    r = sluice(env, "load", "-r", "/data/once", "--metadata-only", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["files_done"] == 2500 and s["listed"] == 2500
    # Each member walked the same 2,500 entries, whether it listed or read the lister's pages.
    assert [w["listed"] for w in s["workers"]] == [2500] * 3, s["workers"]
    # The three pages are listed from s3rver once for the whole cluster (one member lists,
    # the others read its pages), plus each worker's one-key check that the path exists.
    # Each worker listing for itself would have been 3 x 3 + 3.
    assert cluster.total(lists) - before == 3 + 3
    # The same with a trailing slash: every member asks for the same pages.
    before = cluster.total(lists)
    r = sluice(env, "load", "-r", "/data/once/", "--metadata-only", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files_done"] == 2500
    assert cluster.total(lists) - before == 3 + 3


def test_loaded_data_stays_hot_after_its_stats_expire(s3rver, tmp_path):
    """The metadata TTL bounds how stale a stat may be, not how long loaded pages serve:
    once it has passed, a read stats each object (no bytes) and is served from the cache."""
    objects = {f"expire/f{i}.bin": os.urandom(20000) for i in range(40)}
    upload(s3rver, objects)
    c = Cluster({"data": s3rver.uri()}, n=2, metadata_ttl="1s")
    try:
        env = c.env()
        r = sluice(env, "load", "-r", "/data/expire", "--json")
        assert r.returncode == 0, r.stderr
        time.sleep(1.5)
        before = c.total("sluice_ufs_reads_total")
        got = read_tree(copy_out(env, "data/expire", tmp_path))
        assert c.total("sluice_ufs_reads_total") == before  # every byte from the cache
        assert got == {k[len("expire/"):]: v for k, v in objects.items()}
        # An object changed behind the cache is read anew once its stat has expired.
        upload(s3rver, {"expire/f0.bin": b"changed"})
        time.sleep(1.5)
        assert read_tree(copy_out(env, "data/expire", tmp_path))["f0.bin"] == b"changed"
        assert c.total("sluice_ufs_reads_total") == before + 1
    finally:
        c.stop()


def test_pages_the_store_refuses_are_failures_not_loaded(s3rver):
    """A page store that cannot keep the data (here: 1 MiB, eviction `none`) serves it
    pass-through; the load reports those objects as failed, not as loaded."""
    upload(s3rver, {f"refused/f{i}.bin": os.urandom(300_000) for i in range(10)})
    w = Worker({"data": s3rver.uri()}, memory="1MiB", extra=["--eviction", "none"])
    try:
        r = sluice(worker_env(w), "load", "-r", "/data/refused", "--json")
        assert r.returncode == 1, r.stdout + r.stderr
        s = json.loads(r.stdout)
        assert s["failed"] > 0 and s["failed"] + s["files_done"] == 10
        assert all("not cached" in f["error"] for f in s["failures"]), s["failures"]
    finally:
        w.stop()


def test_replicas_loads_each_object_on_that_many_workers(s3rver, cluster):
    upload(s3rver, {f"rep/f{i}.bin": os.urandom(3000) for i in range(30)})
    env = cluster.env()
    r = sluice(env, "load", "-r", "/data/rep", "--replicas", "2", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["files_done"] == 60  # two owners each
    assert max(w["files_done"] for w in s["workers"]) <= 30  # two distinct workers each
    # Any one worker killed: every object is still cached on a live one.
    cluster.workers[0].kill()
    before = cluster.total("sluice_ufs_reads_total")
    dead = sluice(env, "load", "-r", "/data/rep", "--replicas", "2", "--wait", "1s")
    assert dead.returncode == 1 and "unreachable" in dead.stderr, dead.stderr
    assert cluster.total("sluice_ufs_reads_total") == before


def test_verify_finds_an_object_changed_behind_the_cache(s3rver, cluster, tmp_path):
    upload(s3rver, {f"ver/f{i}.bin": bytes([i]) * 5000 for i in range(20)})
    env = cluster.env()
    first = sluice(env, "load", "-r", "/data/ver", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["mismatched"] == 0
    upload(s3rver, {"ver/f7.bin": b"changed behind the cache"})  # straight into the store
    r = sluice(env, "load", "-r", "/data/ver", "--verify", "--json")
    assert r.returncode == 1, r.stdout
    s = json.loads(r.stdout)
    assert s["mismatched"] == 1 and s["mismatches"] == ["/data/ver/f7.bin"]
    assert s["failed"] == 0
    cat = sluice(env, "cat", "/data/ver/f7.bin")
    assert cat.stdout == "changed behind the cache"
    again = sluice(env, "load", "-r", "/data/ver", "--verify", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["mismatched"] == 0


def test_verify_does_not_take_a_write_through_sluice_for_a_change_behind_it(s3rver):
    """A job's listing is a snapshot: an object written through Sluice after it was taken
    is newer in the cache than in the listing. --verify must not count it as changed
    behind the cache (nor drop its fresh pages), and its stat stays the new one."""
    upload(s3rver, {f"snap/f{i:02}.bin": bytes([i]) * 100_000 for i in range(30)})
    w = Worker({"data": s3rver.uri()})
    try:
        env = worker_env(w)
        proc = subprocess.Popen([SLUICE, "load", "-r", "/data/snap", "--verify", "--json",
                                 "--bandwidth", "1MiB/s", "--concurrency", "1"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.time() + 30
        while w.metrics().get("sluice_load_files_total", 0) < 2:  # listed, under way
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        s3_client(w.endpoint).put_object(Bucket="data", Key="snap/f29.bin", Body=b"new")
        out, err = proc.communicate(timeout=120)
        s = json.loads(out)
        assert s["mismatched"] == 0, s
        assert proc.returncode == 0, (s, err)
        assert sluice(env, "cat", "/data/snap/f29.bin").stdout == "new"
        stat = json.loads(sluice(env, "stat", "/data/snap/f29.bin", "--json").stdout)
        assert stat["size"] == 3, stat
    finally:
        w.stop()


def load_while_the_store_dies(s3rver, w, path, after_files, extra=()):
    """Runs `sluice load -r PATH --json` slowly against worker `w`, kills s3rver once the
    worker has loaded `after_files` files (the metric), restarts it when the load ends.
    Returns (exit code, summary)."""
    proc = subprocess.Popen([SLUICE, "load", "-r", path, "--json", "--bandwidth", "1MiB/s",
                             "--concurrency", "2", *extra],
                            env=worker_env(w), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 30
    while w.metrics().get("sluice_load_files_total", 0) < after_files:
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    s3rver.kill()
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        s3rver.restart()
    assert out, err
    return proc.returncode, json.loads(out)


def test_verify_with_the_store_down_reports_failures_and_keeps_the_cache(s3rver, tmp_path):
    """--verify that cannot read the store (killed mid-job) reports failures, not
    differences, and drops nothing: the cached copies still serve."""
    objects = {f"vdown/f{i:03d}.bin": os.urandom(100_000) for i in range(40)}
    upload(s3rver, objects)
    w = Worker({"data": s3rver.uri()}, metadata_ttl="5m")
    try:
        env = worker_env(w)
        assert sluice(env, "load", "-r", "/data/vdown").returncode == 0
        loaded = w.metrics()["sluice_load_files_total"]
        code, s = load_while_the_store_dies(s3rver, w, "/data/vdown", loaded + 5, ["--verify"])
        assert code == 1
        assert s["failed"] > 0 and s["mismatched"] == 0, s
        reads = w.metrics()["sluice_ufs_reads_total"]
        got = read_tree(copy_out(env, "data/vdown", tmp_path))
        assert got == {k[len("vdown/"):]: v for k, v in objects.items()}
        assert w.metrics()["sluice_ufs_reads_total"] == reads  # every object still cached
    finally:
        w.stop()


def test_load_errors_are_clear(s3rver, cluster):
    env = cluster.env()
    r = sluice(env, "load", "-r", "/data/no/such/prefix")
    assert r.returncode != 0 and "nothing to load" in r.stderr, r.stderr
    r = sluice(env, "load", "-r", "/nosuchmount/x")
    assert r.returncode != 0 and r.stderr.strip(), r.stderr
    r = sluice(env, "load", "-r", "/data/meta", "--bandwidth", "fast")
    assert r.returncode != 0 and "--bandwidth" in r.stderr, r.stderr
    r = sluice(env, "load", "--status", "load-000000000000")
    assert r.returncode != 0 and "no load job" in r.stderr, r.stderr
    dead = dict(env)
    dead["SLUICE_CLUSTER"] = f"127.0.0.1:{free_port()}"
    r = sluice(dead, "load", "-r", "/data/meta", timeout=60)
    assert r.returncode != 0 and "127.0.0.1" in r.stderr, r.stderr


# ---------------------------------------------------------------- free, pin, TTL, quota


def test_free_drops_pages_everywhere_and_the_next_read_refetches(s3rver, cluster, tmp_path):
    objects = {f"fr/f{i}.bin": os.urandom(100_000) for i in range(30)}
    upload(s3rver, objects)
    env = cluster.env()
    assert sluice(env, "load", "-r", "/data/fr").returncode == 0
    reads = cluster.total("sluice_ufs_reads_total")
    copy_out(env, "data/fr", tmp_path)
    assert cluster.total("sluice_ufs_reads_total") == reads  # loaded: all hits
    pages = cluster.total("sluice_page_store_pages")
    r = sluice(env, "free", "/data/fr", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["freed_pages"] >= 30
    assert cluster.total("sluice_page_store_pages") <= pages - 30  # seen in the metrics
    got = read_tree(copy_out(env, "data/fr", tmp_path))
    assert cluster.total("sluice_ufs_reads_total") - reads >= 30
    assert all(got[k[len("fr/"):]] == v for k, v in objects.items())


def test_free_drops_an_object_replaced_or_deleted_behind_the_cache(s3rver):
    """The pages of the version the cache knew go, even once its stat has expired and the
    store holds another version, or none."""
    upload(s3rver, {"frv/replaced.bin": os.urandom(300_000), "frv/deleted.bin": os.urandom(300_000)})
    w = Worker({"data": s3rver.uri()}, metadata_ttl="1s")
    try:
        env = worker_env(w)
        assert sluice(env, "load", "-r", "/data/frv").returncode == 0
        pages = w.metrics()["sluice_page_store_pages"]
        upload(s3rver, {"frv/replaced.bin": b"new"})
        from conftest import s3_client
        s3_client(s3rver.endpoint).delete_object(Bucket=s3rver.bucket, Key="frv/deleted.bin")
        time.sleep(1.5)
        for name in ("replaced.bin", "deleted.bin"):
            r = sluice(env, "free", f"/data/frv/{name}", "--json")
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["freed_pages"] >= 1, (name, r.stdout)
        assert w.metrics()["sluice_page_store_pages"] <= pages - 2
    finally:
        w.stop()


def test_free_with_a_worker_down_frees_the_rest_and_names_it(s3rver, cluster):
    upload(s3rver, {"fd/a.bin": b"a" * 1000})
    env = cluster.env()
    cluster.workers[2].kill()
    r = sluice(env, "free", "/data/fd")
    assert r.returncode != 0
    assert f"127.0.0.1:{cluster.workers[2].port}" in r.stderr, r.stderr


def test_pinned_data_survives_pressure_that_evicts_everything_else(s3rver, tmp_path):
    upload(s3rver, {f"pin/p{i}.bin": os.urandom(MiB) for i in range(4)})
    upload(s3rver, {f"press/q{i}.bin": os.urandom(MiB) for i in range(24)})
    # A long metadata TTL: a re-read after an expired stat is a cold open (one GET that
    # brings the stat), which would count as an under-store read however pinned the pages.
    w = Worker({"data": s3rver.uri()}, memory="12MiB", extra=["--eviction", "lru"],
               metadata_ttl="5m")
    try:
        env = worker_env(w)
        r = sluice(env, "pin", "/data/pin")
        assert r.returncode == 0, r.stderr
        assert sluice(env, "load", "-r", "/data/pin").returncode == 0
        assert w.metrics()["sluice_page_store_pinned_pages"] == 4
        for _ in range(2):  # 24 MiB through a 12 MiB cache, twice
            copy_out(env, "data/press", tmp_path)
        assert w.metrics()["sluice_page_store_evictions_total"] > 0
        reads = w.metrics()["sluice_ufs_reads_total"]
        copy_out(env, "data/pin", tmp_path)
        assert w.metrics()["sluice_ufs_reads_total"] == reads  # the pinned pages stayed
        # The rest was evicted: 24 MiB do not fit beside the pinned 4 MiB in 12 MiB, so a
        # third pass fetches at least 16 of its objects again (which ones depends on the
        # order `cp -r` read them in).
        copy_out(env, "data/press", tmp_path)
        assert w.metrics()["sluice_ufs_reads_total"] - reads >= 16
        # Unpinned, they can go.
        r = sluice(env, "unpin", "/data/pin")
        assert r.returncode == 0, r.stderr
        assert w.metrics()["sluice_page_store_pinned_pages"] == 0
        assert "unpinned" in r.stdout
    finally:
        w.stop()


def test_ttl_rule_expires_cached_pages(s3rver, tmp_path):
    upload(s3rver, {"ttl/a.bin": b"a" * 5000, "keep/b.bin": b"b" * 5000})
    with yaml_config("ttl_rules:\n  - {path: /data/ttl, ttl: 2s}\n") as cfg:
        w = Worker({"data": s3rver.uri()}, extra=["--config", cfg], metadata_ttl="5m")
        try:
            env = worker_env(w)
            for p in ("/data/ttl/a.bin", "/data/keep/b.bin"):
                assert sluice(env, "cat", p).returncode == 0
            m = w.metrics()
            assert m["sluice_ttl_tracked_objects"] == 1
            assert m["sluice_ttl_expired_objects_total"] == 0
            deadline = time.time() + 10
            while w.metrics()["sluice_ttl_expired_objects_total"] < 1:
                assert time.time() < deadline, "nothing expired"
                time.sleep(0.2)
            reads = w.metrics()["sluice_ufs_reads_total"]
            assert sluice(env, "cat", "/data/keep/b.bin").stdout == "b" * 5000
            assert w.metrics()["sluice_ufs_reads_total"] == reads  # no rule: still cached
            assert sluice(env, "cat", "/data/ttl/a.bin").stdout == "a" * 5000
            assert w.metrics()["sluice_ufs_reads_total"] == reads + 1  # expired: fetched
        finally:
            w.stop()


def test_mount_quota_caps_a_mounts_share(s3rver, tmp_path):
    upload(s3rver, {f"quota/q{i}.bin": os.urandom(MiB) for i in range(10)})
    upload(s3rver, {f"quota2/q{i}.bin": os.urandom(MiB) for i in range(10)})
    with yaml_config("mount_quotas:\n  - {mount: capped, quota: 3MiB}\n") as cfg:
        w = Worker({"data": s3rver.uri(), "capped": s3rver.uri()}, memory="64MiB",
                   extra=["--config", cfg])
        try:
            env = worker_env(w)
            got = read_tree(copy_out(env, "capped/quota", tmp_path))
            assert len(got) == 10
            m = w.metrics()
            assert m['sluice_mount_cached_bytes{mount="capped"}'] <= 3 * MiB
            assert m['sluice_mount_quota_bytes{mount="capped"}'] == 3 * MiB
            assert m["sluice_page_store_quota_evictions_total"] >= 7
            # The other mount is not capped (other objects: both mounts are one bucket,
            # and one object's pages are one set of pages).
            copy_out(env, "data/quota2", tmp_path)
            assert w.metrics()["sluice_page_store_used_bytes"] >= 13 * MiB
            st = sluice(env, "status", "--json")
            rules = json.loads(st.stdout)["workers"][0]["rules"]
            assert rules["quotas"][0]["mount"] == "capped"
        finally:
            w.stop()


def test_a_quota_for_an_unknown_mount_is_refused(s3rver):
    with yaml_config("mount_quotas:\n  - {mount: nope, quota: 3MiB}\n") as cfg:
        with pytest.raises(RuntimeError, match="no such mount"):
            Worker({"data": s3rver.uri()}, extra=["--config", cfg])


def test_prefetch_loads_the_listed_objects_on_their_owners(s3rver, cluster, tmp_path):
    """POST /v1/prefetch (what Client::Prefetch sends each owner): the objects are loaded in
    the background, and a read afterwards is a hit."""
    import urllib.request
    objects = {f"pf/f{i}.bin": os.urandom(20_000) for i in range(12)}
    upload(s3rver, objects)
    w = cluster.workers[0]
    paths = [f"/data/{k}" for k in sorted(objects)]
    req = urllib.request.Request(w.endpoint + "/v1/prefetch", method="POST",
                                 data=json.dumps({"paths": paths}).encode())
    answer = json.loads(urllib.request.urlopen(req, timeout=10).read())
    assert answer == {"queued": 12, "dropped": 0}
    deadline = time.time() + 20
    while w.metrics().get("sluice_prefetch_loaded_total", 0) < 12:
        assert time.time() < deadline, w.metrics()
        time.sleep(0.05)
    bad = urllib.request.Request(w.endpoint + "/v1/prefetch", method="POST", data=b"[1]")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(bad, timeout=10)
    assert e.value.code == 400


def test_a_killed_under_store_fails_objects_not_the_job(s3rver, tmp_path):
    """Objects that fail (here: the store is killed mid-job) are counted and listed at the
    end, the others still load, and the exit code says not everything was loaded."""
    upload(s3rver, {f"kill/f{i:03d}.bin": os.urandom(100_000) for i in range(60)})
    w = Worker({"data": s3rver.uri()}, metadata_ttl="5m")
    try:
        env = worker_env(w)
        code, s = load_while_the_store_dies(s3rver, w, "/data/kill", 10)
        assert code == 1
        assert s["state"] == "done"
        assert s["failed"] > 0 and s["files_done"] >= 10
        assert s["failed"] + s["files_done"] == 60
        assert all(f["path"].startswith("/data/kill/") and f["error"] for f in s["failures"])
        # The store is back: loading again completes what failed.
        again = sluice(env, "load", "-r", "/data/kill", "--json")
        assert again.returncode == 0, again.stdout + again.stderr
        assert json.loads(again.stdout)["files_done"] == 60
    finally:
        w.stop()
