"""The worker under failure: killed and restarted, its under store going away, and its
memory tier evicting pages that responses are still being sent from."""
import concurrent.futures
import hashlib
import random
import socket
import tempfile
import time
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
        store.kill()
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
    """Responses are sent from the cached pages themselves, without a copy. A slow reader's
    pages may be evicted by other readers meanwhile: it must still get every byte right."""
    w = Worker({"data": s3rver.uri("evict")}, memory="8MiB")  # no disk tier: evicted = gone
    try:
        s3 = s3_client(w.endpoint)
        rng = random.Random(7)
        bodies = {f"o{i}": rng.randbytes(3 << 20) for i in range(10)}  # 30 MiB over 8 MiB
        for k, v in bodies.items():
            s3.put_object(Bucket="data", Key=k, Body=v)
        digests = {k: hashlib.md5(v).hexdigest() for k, v in bodies.items()}

        def slow_read(key):
            # GET, then read 64 KiB at a time with pauses, while the others churn the tier.
            with socket.create_connection(("127.0.0.1", w.port), timeout=30) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
                sock.sendall(f"GET /data/{key} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                data = b""
                while b"\r\n\r\n" not in data:
                    data += sock.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200"), head
                while len(body) < len(bodies[key]):
                    chunk = sock.recv(65536)
                    assert chunk, f"{key}: cut off at {len(body)} bytes"
                    body += chunk
                    time.sleep(0.002)
                return key, hashlib.md5(body).hexdigest()

        def churn(seed):
            c = s3_client(w.endpoint)
            r = random.Random(seed)
            out = []
            for _ in range(12):
                k = r.choice(list(bodies))
                if r.random() < 0.5:
                    body = c.get_object(Bucket="data", Key=k)["Body"].read()
                    out.append((k, hashlib.md5(body).hexdigest()))
                else:  # a range across a page boundary
                    start = r.randrange(0, (3 << 20) - (1 << 20))
                    body = c.get_object(Bucket="data", Key=k,
                                        Range=f"bytes={start}-{start + (1 << 20)}")["Body"].read()
                    assert body == bodies[k][start:start + (1 << 20) + 1], (k, start)
            return out

        before = w.metrics()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            slow = [ex.submit(slow_read, k) for k in list(bodies)[:4]]
            fast = [ex.submit(churn, seed) for seed in range(4)]
            results = [f.result() for f in slow] + [x for f in fast for x in f.result()]
        for key, digest in results:
            assert digest == digests[key], key
        after = w.metrics()
        # The tier did evict while responses were in flight, and some were sent inline.
        assert after["sluice_page_store_evictions_total"] > before["sluice_page_store_evictions_total"]
        assert after["sluice_s3_inline_requests_total"] > before.get("sluice_s3_inline_requests_total", 0)
    finally:
        w.stop()
