"""Fixtures for black-box tests: real processes only (s3rver, the sluice binary)."""
import concurrent.futures
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("SLUICE_BUILD", os.path.join(ROOT, "build"))
SLUICE = os.path.join(BUILD, "sluice")
S3RVER_JS = os.path.join(ROOT, "third_party/node/node_modules/s3rver/bin/s3rver.js")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


class S3rver:
    """A real s3rver with one bucket, on a free loopback port."""

    def __init__(self, bucket):
        if not os.path.exists(S3RVER_JS):
            raise RuntimeError("s3rver is not installed: run scripts/bootstrap")
        self.bucket = bucket
        self.dir = tempfile.mkdtemp(prefix="sluice-s3rver-")
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "s3rver.log"), "w")
        self._spawn()

    def _spawn(self):
        self.proc = subprocess.Popen(
            ["node", "--openssl-legacy-provider", S3RVER_JS, "-d", os.path.join(self.dir, "data"),
             "-a", "127.0.0.1", "-p", str(self.port), "-s", "--configure-bucket", self.bucket],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port)

    def kill(self):
        """The store goes away (its data stays on disk)."""
        self.proc.kill()
        self.proc.wait()

    def restart(self):
        """The store comes back on the same port with the same data."""
        self._spawn()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def uri(self, prefix=""):
        p = f"/{prefix}" if prefix else ""
        return f"s3://{self.bucket}{p}?endpoint={self.endpoint}&region=us-east-1"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def s3rver():
    server = S3rver("test-bucket")
    yield server
    server.stop()


@pytest.fixture()
def sluice_env():
    env = dict(os.environ)
    env["AWS_ACCESS_KEY_ID"] = "S3RVER"
    env["AWS_SECRET_ACCESS_KEY"] = "S3RVER"
    env.pop("AWS_CA_BUNDLE", None)
    return env


def run_sluice(args, env, timeout=300):
    return subprocess.run([SLUICE] + args, env=env, capture_output=True, text=True,
                          timeout=timeout)


class Worker:
    """A real `sluice worker` process on a free loopback port."""

    def __init__(self, mounts, cache_dir=None, memory="256MiB", credentials=None, extra=None,
                 env=None, port=None, metadata_ttl="2s"):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.args = [SLUICE, "worker", "--listen", f"127.0.0.1:{self.port}", "--memory", memory,
                     "--metadata-ttl", metadata_ttl]
        for name, uri in mounts.items():
            self.args += ["--mount", f"{name}={uri}"]
        if cache_dir:
            self.args += ["--cache-dir", f"{cache_dir}:1GiB"]
        self.args += extra or []
        self.env = dict(env or os.environ)
        self.env.pop("AWS_CA_BUNDLE", None)
        self.env.setdefault("AWS_ACCESS_KEY_ID", "S3RVER")
        self.env.setdefault("AWS_SECRET_ACCESS_KEY", "S3RVER")
        if credentials:
            self.env["SLUICE_S3_CREDENTIALS"] = credentials
        self.proc = None
        self.start()

    def start(self):
        self.log = tempfile.NamedTemporaryFile(prefix="sluice-worker-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.logs()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"worker did not start: {self.logs()}")

    def logs(self):
        with open(self.log.name) as f:
            return f.read()

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def metrics(self):
        import urllib.request
        text = urllib.request.urlopen(self.endpoint + "/metrics", timeout=10).read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
        return out


def s3_client(endpoint, key="S3RVER", secret="S3RVER", read_timeout=60, max_attempts=2):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                      retries={"max_attempts": max_attempts, "mode": "standard"},
                                      connect_timeout=5, read_timeout=read_timeout))


class Etcd:
    """A real etcd (Debian's etcd-server) on free loopback ports with a temp data dir."""

    def __init__(self):
        self.bin = shutil.which("etcd") or "/usr/bin/etcd"
        if not os.path.exists(self.bin):
            raise RuntimeError("etcd is not installed: run scripts/bootstrap")
        self.dir = tempfile.mkdtemp(prefix="sluice-etcd-")
        self.port, self.peer_port = free_port(), free_port()
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.log = open(os.path.join(self.dir, "etcd.log"), "a")
        self.proc = subprocess.Popen(
            [self.bin, "--name", "t", "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"t={peer}"], stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Cluster:
    """N real `sluice worker` processes: static (--peers) or registered in etcd."""

    def __init__(self, mounts, n=3, etcd=None, memory="128MiB", extra=None, disk=False,
                 metadata_ttl="30s"):
        self.mounts = mounts
        self.etcd = etcd
        self.memory = memory
        self.metadata_ttl = metadata_ttl
        self.extra = extra or []
        # disk: each worker gets a cache dir (its pages and load-job state survive a restart)
        self.disk = tempfile.mkdtemp(prefix="sluice-cluster-disk-") if disk else None
        ports = [free_port() for _ in range(n)]
        self.peers = ",".join(f"127.0.0.1:{p}" for p in ports)
        self.workers = [self._worker(p) for p in ports]

    def _worker(self, port):
        membership = ["--etcd", self.etcd.url] if self.etcd else ["--peers", self.peers]
        cache_dir = os.path.join(self.disk, str(port)) if self.disk else None
        return Worker(self.mounts, memory=self.memory, port=port, metadata_ttl=self.metadata_ttl,
                      cache_dir=cache_dir,
                      extra=membership + ["--advertise", f"127.0.0.1:{port}"] + self.extra)

    def add_worker(self):
        w = self._worker(free_port())
        self.workers.append(w)
        return w

    @property
    def address(self):
        return ",".join(f"127.0.0.1:{w.port}" for w in self.workers)

    def env(self, base=None):
        env = dict(base or os.environ)
        env["SLUICE_CLUSTER"] = self.address
        env.pop("AWS_CA_BUNDLE", None)
        return env

    def total(self, metric):
        return sum(w.metrics().get(metric, 0) for w in self.workers if w.proc.poll() is None)

    def stop(self):
        for w in self.workers:
            w.stop()
        if self.disk:
            shutil.rmtree(self.disk, ignore_errors=True)


def upload(s3rver, objects):
    """Puts every key -> bytes of `objects` straight into s3rver's bucket, 16 at a time."""
    c = s3_client(s3rver.endpoint)
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda kv: c.put_object(Bucket=s3rver.bucket, Key=kv[0], Body=kv[1]),
                    objects.items()))


@contextlib.contextmanager
def yaml_config(text, prefix="sluice-cfg-"):
    """A temporary sluice.yaml with `text`; yields its path."""
    d = tempfile.mkdtemp(prefix=prefix)
    path = os.path.join(d, "sluice.yaml")
    with open(path, "w") as f:
        f.write(text)
    try:
        yield path
    finally:
        shutil.rmtree(d, ignore_errors=True)
