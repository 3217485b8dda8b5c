"""The worker under failure: killed and restarted, and its under store going away."""
import tempfile
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
