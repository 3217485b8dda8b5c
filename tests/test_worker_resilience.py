"""The worker under failure: killed and restarted, its under store going away, and its
memory tier evicting pages that responses are still being sent from."""
import concurrent.futures
import hashlib
import random
import socket
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import S3rver, Worker, s3_client


def ufs_bytes(worker):
    return worker.metrics().get("sluice_ufs_read_bytes_total", 0)


def test_kill_and_restart_keeps_disk_cache_hot(s3rver):
    cache = tempfile.mkdtemp(prefix="sluice-cache-")
    w = Worker({"data": s3rver.uri("restart")}, cache_dir=cache, memory="0")
    try:
        s3 = s3_client(w.endpoint)
        bodies = {f"k{i}": bytes([i]) * (20000 + i) for i in range(50)}
        for k, v in bodies.items():
            s3.put_object(Bucket="data", Key=k, Body=v)
        for k, v in bodies.items():
            assert s3.get_object(Bucket="data", Key=k)["Body"].read() == v
        w.kill()  # kill -9: no graceful shutdown
        w.start()
        s3 = s3_client(w.endpoint)
        for k, v in bodies.items():
            assert s3.get_object(Bucket="data", Key=k)["Body"].read() == v
        assert ufs_bytes(w) == 0, "a restarted worker re-fetched data it had on disk"
        assert w.metrics()["sluice_page_store_pages"] >= len(bodies)
    finally:
        w.stop()


def test_under_store_going_away_gives_503_then_recovers():
    store = S3rver("flaky")
    w = Worker({"data": store.uri()}, memory="64MiB")
    try:
        s3 = s3_client(w.endpoint)
        s3.put_object(Bucket="data", Key="cached", Body=b"hot bytes")
        assert s3.get_object(Bucket="data", Key="cached")["Body"].read() == b"hot bytes"
        # An object whose stat (with its stored headers) is cached, its bytes not.
        s3_client(store.endpoint).put_object(
            Bucket=store.bucket, Key="gz", Body=b"\x1f\x8b...", ContentEncoding="gzip",
            ContentDisposition="attachment; filename=x.gz")
        assert s3.head_object(Bucket="data", Key="gz")["ContentEncoding"] == "gzip"
        store.kill()
        # Its error document carries none of the object's headers (a browser would
        # gunzip the XML, or save it as x.gz).
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request(
                w.endpoint + "/data/gz", headers={"Range": "bytes=0-1"}), timeout=60)
        assert e.value.code == 503
        for h in ("Content-Encoding", "Content-Disposition", "Content-Range", "ETag"):
            assert e.value.headers.get(h) is None, (h, dict(e.value.headers))
        assert b"<Error>" in e.value.read()
        # Cached data is still served while its metadata is fresh.
        assert s3.get_object(Bucket="data", Key="cached")["Body"].read() == b"hot bytes"
        # What is not cached fails cleanly with 503, not a hang or a crash.
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket="data", Key="never-read")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="data", Key="new", Body=b"x")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert urllib.request.urlopen(w.endpoint + "/healthz").status == 200
        store.restart()
        s3.put_object(Bucket="data", Key="new", Body=b"after")
        assert s3.get_object(Bucket="data", Key="new")["Body"].read() == b"after"
    finally:
        w.stop()
        store.stop()


def test_graceful_shutdown_on_sigterm(s3rver):
    w = Worker({"data": s3rver.uri("term")})
    w.stop()  # SIGTERM
    assert w.proc.returncode == 0
    assert "shutting down" in w.logs()


def test_pages_evicted_while_being_sent_still_arrive_whole(s3rver):
    """Hot responses are sent from the cached pages themselves, without a copy; what the
    socket does not take at once is held by reference. A slow reader's pages are evicted
    by other readers meanwhile: it must still get every byte right."""
    # 8 pages of memory, LRU, no disk tier: an evicted page is gone from the cache.
    w = Worker({"data": s3rver.uri("evict")}, memory="8MiB", extra=["--eviction", "lru"],
               metadata_ttl="5m")
    inline = "sluice_s3_inline_requests_total"
    try:
        s3 = s3_client(w.endpoint)
        rng = random.Random(7)
        bodies = {f"o{i}": rng.randbytes(3 << 20) for i in range(10)}  # 30 MiB
        for k, v in bodies.items():
            s3.put_object(Bucket="data", Key=k, Body=v)
        # o0 wholly in memory: a GET of it is answered inline.
        for _ in range(5):
            before = w.metrics().get(inline, 0)
            assert s3.get_object(Bucket="data", Key="o0")["Body"].read() == bodies["o0"]
            if w.metrics().get(inline, 0) > before:
                break
        else:
            pytest.fail("o0 was never answered inline")

        # The slow reader: a small receive window, headers read, the body left waiting.
        before = w.metrics().get(inline, 0)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        sock.settimeout(30)
        sock.connect(("127.0.0.1", w.port))
        try:
            sock.sendall(b"GET /data/o0 HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                assert chunk, "closed before the headers"
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            # Answered inline (counted just after the head went out: wait for it).
            deadline = time.time() + 5
            while w.metrics().get(inline, 0) < before + 1 and time.time() < deadline:
                time.sleep(0.01)
            assert w.metrics().get(inline, 0) == before + 1

            # Other readers churn the tier: every page of o0 is evicted meanwhile.
            evictions = w.metrics()["sluice_page_store_evictions_total"]

            def churn(seed):
                c = s3_client(w.endpoint)
                r = random.Random(seed)
                for k in [f"o{i}" for i in range(1, 10)]:
                    if r.random() < 0.5:
                        assert c.get_object(Bucket="data", Key=k)["Body"].read() == bodies[k]
                    else:  # a range across a page boundary
                        start = r.randrange(0, (3 << 20) - (1 << 20))
                        got = c.get_object(Bucket="data", Key=k,
                                           Range=f"bytes={start}-{start + (1 << 20)}")
                        assert got["Body"].read() == bodies[k][start:start + (1 << 20) + 1]

            with concurrent.futures.ThreadPoolExecutor(4) as ex:
                list(ex.map(churn, range(4)))
            assert w.metrics()["sluice_page_store_evictions_total"] >= evictions + 8

            while len(body) < len(bodies["o0"]):
                chunk = sock.recv(65536)
                assert chunk, f"cut off at {len(body)} bytes"
                body += chunk
        finally:
            sock.close()
        assert hashlib.md5(body).hexdigest() == hashlib.md5(bodies["o0"]).hexdigest()
    finally:
        w.stop()


def test_probes_answer_while_slow_uploads_hold_every_handler_thread():
    """Liveness and readiness are answered on the I/O threads: two slow uploads holding
    both handler threads of a worker configured with two do not make it look dead."""
    from conftest import yaml_config
    root = tempfile.mkdtemp(prefix="sluice-probe-")
    with yaml_config("server:\n  handler_threads: 2\n") as cfg:
        w = Worker({"data": f"file://{root}"}, extra=["--config", cfg])
        slow = []
        try:
            for i in range(2):
                s = socket.create_connection(("127.0.0.1", w.port), timeout=5)
                s.sendall(f"PUT /v1/write?path=/data/slow{i} HTTP/1.1\r\nHost: x\r\n"
                          f"Content-Length: 100\r\n\r\nx".encode())
                slow.append(s)
            time.sleep(0.3)  # both handler threads now wait for the rest of a body
            for probe, want in (("/healthz", b"ok\n"), ("/readyz", b"ready\n")):
                got = urllib.request.urlopen(w.endpoint + probe, timeout=3).read()
                assert got == want
        finally:
            for s in slow:
                s.close()
            w.stop()
