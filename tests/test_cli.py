"""Black-box tests of the `sluice` command line against a stub worker: what a worker
answers is scripted here, so that answers no real store gives (keys that climb out of a
directory, a read that fails half-way) can be served."""
import http.server
import json
import os
import threading
import urllib.parse

import pytest

from conftest import SLUICE, run_sluice


class StubWorker:
    """A /v1 worker that serves one mount `data` from `objects` (path -> bytes); reads of
    paths in `failing` answer 500."""

    def __init__(self, objects, failing=()):
        self.objects = objects
        self.failing = set(failing)
        self.posts = []  # paths of the POSTs received (refused)
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send_json(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                stub.posts.append(self.path)
                self.send_json(404, {"error": {"code": "NotFound", "message": "stub"}})

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                path = q.get("path", "")
                if url.path == "/v1/cluster":
                    return self.send_json(200, stub.cluster_json())
                if url.path == "/v1/stat":
                    if path in stub.objects:
                        return self.send_json(200, stub.stat(path))
                    if any(p.startswith(path.rstrip("/") + "/") for p in stub.objects):
                        return self.send_json(200, {"path": path, "is_dir": True, "size": 0,
                                                    "version": "", "etag": "", "mtime_ns": 0})
                    return self.send_json(404, {"error": {"code": "NotFound",
                                                          "message": path + ": not found"}})
                if url.path == "/v1/list":
                    prefix = path.rstrip("/") + "/"
                    objs = [stub.stat(p) for p in sorted(stub.objects) if p.startswith(prefix)]
                    return self.send_json(200, {"objects": objs, "prefixes": [],
                                                "next_token": ""})
                if url.path == "/v1/read":
                    if path in stub.failing:
                        return self.send_json(500, {"error": {"code": "Internal",
                                                              "message": "disk on fire"}})
                    data = stub.objects[path]
                    off = int(q.get("offset", 0))
                    n = int(q.get("length", len(data)))
                    body = data[off:off + n]
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("X-Sluice-Version", "v1")
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_json(404, {"error": {"code": "NotFound", "message": "no such API"}})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stat(self, path):
        return {"path": path, "is_dir": False, "size": len(self.objects[path]), "version": "v1",
                "etag": "e", "mtime_ns": 1}

    def cluster_json(self):
        me = f"127.0.0.1:{self.port}"
        return {"cluster": "default", "fingerprint": "", "membership": "static",
                "members": [{"id": me, "endpoint": "http://" + me}], "self": me,
                "metadata_ttl_ms": 1000, "mounts": [{"name": "data", "uri": "file:///x"}],
                "ring": {"block_size": 64 << 20, "policy": "maglev", "replica_rules": [],
                         "replicas": 1, "virtual_points": 0}}

    def env(self):
        env = dict(os.environ)
        env["SLUICE_CLUSTER"] = f"127.0.0.1:{self.port}"
        env.pop("SLUICE_ETCD", None)
        return env

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def stub():
    workers = []

    def make(objects, failing=()):
        w = StubWorker(objects, failing)
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.stop()


def test_cp_r_never_writes_outside_the_destination(stub, tmp_path):
    """Keys that climb out of the copied directory ("a/../../x") or turn absolute once
    joined ("train//abs") are refused and reported; nothing outside DST is created,
    truncated or removed, and the rest is copied."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    dst = tmp_path / "out" / "train"
    w = stub({"/data/train/ok.bin": b"fine",
              "/data/train/sub//ok2.bin": b"fine too",  # '//' inside a key is harmless
              "/data/train/../../victim.txt": b"evil",
              "/data/train//" + str(tmp_path / "abs.txt").lstrip("/"): b"evil"})
    r = run_sluice(["cp", "-r", "sluice://data/train", str(dst)], w.env())
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("names no file inside") == 2, r.stderr
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "abs.txt").exists()
    assert (dst / "ok.bin").read_bytes() == b"fine"
    assert (dst / "sub" / "ok2.bin").read_bytes() == b"fine too"
    assert sorted(os.listdir(dst)) == ["ok.bin", "sub"]


def test_a_failed_cp_keeps_the_file_that_was_there(stub, tmp_path):
    target = tmp_path / "ckpt.pt"
    target.write_bytes(b"the previous checkpoint")
    w = stub({"/data/ckpt.pt": b"x" * 1000}, failing={"/data/ckpt.pt"})
    r = run_sluice(["cp", "sluice://data/ckpt.pt", str(target)], w.env())
    assert r.returncode == 1 and "disk on fire" in r.stderr, r.stderr
    assert target.read_bytes() == b"the previous checkpoint"
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temporary file left either
    # And a copy that succeeds replaces it.
    w.failing.clear()
    r = run_sluice(["cp", "sluice://data/ckpt.pt", str(target)], w.env())
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == b"x" * 1000
    assert oct(target.stat().st_mode & 0o777) == oct(0o644 & ~current_umask())


def test_cp_to_a_device_writes_into_it(stub, tmp_path):
    """A target that is no regular file (/dev/null, a symlink) is written in place, never
    replaced by a regular file."""
    import stat
    w = stub({"/data/x.bin": b"x" * 5000})
    r = run_sluice(["cp", "sluice://data/x.bin", "/dev/null"], w.env())
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    real = tmp_path / "real.bin"
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    r = run_sluice(["cp", "sluice://data/x.bin", str(link)], w.env())
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and real.read_bytes() == b"x" * 5000


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("args", [
    ["up", "--workers", "x"],
    ["load", "/d", "--concurrency", "0"],
    ["cp", "a"],
    ["ls", "--bogus"],
    ["--log-level", "loud", "ls"],
    [],
])
def test_bad_arguments_exit_2(args):
    r = run_sluice(args, dict(os.environ))
    assert r.returncode == 2, (args, r.returncode, r.stderr)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["cp", "--help"]])
def test_help_and_version_exit_0(args):
    r = run_sluice(args, dict(os.environ))
    assert r.returncode == 0, (args, r.returncode, r.stderr)


def test_a_cluster_flag_is_not_mixed_with_an_etcd_left_in_the_environment(stub):
    """--cluster names the cluster alone: SLUICE_ETCD from another (stopped) cluster is not
    asked for members."""
    w = stub({"/data/train/a.bin": b"a"})
    env = w.env()
    env.pop("SLUICE_CLUSTER")
    env["SLUICE_ETCD"] = "http://127.0.0.1:9"  # nothing listens there
    r = run_sluice(["stat", "--cluster", f"127.0.0.1:{w.port}", "/data/train/a.bin"], env)
    assert r.returncode == 0, r.stderr
    r = run_sluice(["stat", "/data/train/a.bin"], env)  # the environment's etcd: down
    assert r.returncode != 0 and "127.0.0.1:9" in r.stderr, r.stderr


@pytest.mark.parametrize("flag", [["--wait", "5x"], ["--bandwidth", "fast"]])
def test_a_load_with_a_bad_option_starts_no_job(stub, flag):
    w = stub({"/data/train/a.bin": b"a"})
    r = run_sluice(["load", "-r", "/data/train", *flag], w.env())
    assert r.returncode == 2, r.stderr
    assert w.posts == []


def test_worker_flags_go_over_the_config(tmp_path):
    """--peers replaces a config's etcd (not 'give either peers or etcd'), and --listen
    fixes a config's bad listen address before anything is validated."""
    from conftest import Worker, free_port
    cfg = tmp_path / "w.yaml"
    cfg.write_text("etcd: http://127.0.0.1:9\nserver:\n  listen: nowhere\n")
    (tmp_path / "root").mkdir()
    port = free_port()
    w = Worker({"d": f"file://{tmp_path / 'root'}"}, port=port,
               extra=["--config", str(cfg), "--peers", f"127.0.0.1:{port}"])
    try:
        assert w.proc.poll() is None, w.logs()
    finally:
        w.stop()


def free_port_run(n):
    """A port P with P..P+n-1 free (checked, not reserved)."""
    import socket
    from conftest import free_port
    for _ in range(50):
        p = free_port()
        if p + n >= 65535:
            continue
        ok = True
        for q in range(p, p + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
                    break
        if ok:
            return p
    raise RuntimeError("no free run of ports")


def accepts(port):
    import socket
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sig", ["SIGHUP", "SIGKILL"])
def test_sluice_up_leaves_no_workers_behind(tmp_path, sig):
    """A closed terminal (SIGHUP) stops the cluster as Ctrl-C does; so does the end of
    `sluice up` itself (SIGKILL: its workers get SIGTERM from the kernel)."""
    import signal
    import subprocess
    import time
    base = free_port_run(2)
    proc = subprocess.Popen([SLUICE, "up", "--workers", "2", "--dir", str(tmp_path),
                             "--base-port", str(base), "--memory", "64MiB",
                             "--cache-size", "64MiB"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 30
        while not (accepts(base) and accepts(base + 1)):
            assert proc.poll() is None and time.time() < deadline, proc.stdout.read()
            time.sleep(0.1)
        proc.send_signal(getattr(signal, sig))
        proc.wait(timeout=30)
        deadline = time.time() + 20
        while accepts(base) or accepts(base + 1):
            assert time.time() < deadline, "workers still listening after sluice up ended"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_one_config_file_serves_workers_and_clients(stub, tmp_path):
    """A client given the workers' config finds them by its `peers`; a key nothing reads
    (a typo) is an error naming it, as for a worker."""
    w = stub({"/data/train/a.bin": b"a"})
    env = w.env()
    env.pop("SLUICE_CLUSTER")
    cfg = tmp_path / "cluster.yaml"
    cfg.write_text(f"peers: [127.0.0.1:{w.port}]\nmemory: 1GiB\nlease_ttl: 5s\n")
    r = run_sluice(["stat", "--config", str(cfg), "/data/train/a.bin"], env)
    assert r.returncode == 0, r.stderr
    cfg.write_text(f"clustr: 127.0.0.1:{w.port}\n")
    r = run_sluice(["stat", "--config", str(cfg), "/data/train/a.bin"], env)
    assert r.returncode == 2 and "clustr" in r.stderr, (r.returncode, r.stderr)
