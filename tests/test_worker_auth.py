"""SigV4 on the worker's S3 API: signed requests, bad signatures, presigned URLs."""
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import Worker, s3_client, run_sluice

KEY, SECRET = "AKIDSLUICETEST", "sluice-secret-key"


@pytest.fixture(scope="module")
def worker(s3rver):
    w = Worker({"data": s3rver.uri("auth")}, credentials=f"{KEY}:{SECRET}")
    yield w
    w.stop()


def test_signed_requests_work(worker):
    s3 = s3_client(worker.endpoint, KEY, SECRET)
    s3.put_object(Bucket="data", Key="a.txt", Body=b"signed")
    assert s3.get_object(Bucket="data", Key="a.txt")["Body"].read() == b"signed"


def test_wrong_secret_is_signature_does_not_match(worker):
    s3 = s3_client(worker.endpoint, KEY, "wrong-secret")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="a.txt")
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_unknown_key_and_anonymous_are_denied(worker):
    s3 = s3_client(worker.endpoint, "AKIDUNKNOWN", SECRET)
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="data")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(worker.endpoint + "/data/a.txt")
    assert e.value.code == 403


def test_presigned_urls_valid_expired_tampered(worker):
    s3 = s3_client(worker.endpoint, KEY, SECRET)
    s3.put_object(Bucket="data", Key="p.txt", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "p.txt"},
                                    ExpiresIn=60)
    assert urllib.request.urlopen(url).read() == b"presigned"
    tampered = url.replace("p.txt", "a.txt")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered)
    assert e.value.code == 403
    assert b"SignatureDoesNotMatch" in e.value.read()
    short = s3.generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "p.txt"},
                                      ExpiresIn=1)
    time.sleep(2.5)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(short)
    assert e.value.code == 403
    assert b"AccessDenied" in e.value.read()


def test_refuses_to_listen_beyond_loopback_without_credentials(s3rver, sluice_env):
    r = run_sluice(["worker", "--listen", "0.0.0.0:0", "--mount", f"d={s3rver.uri('x')}"],
                   sluice_env, timeout=30)
    assert r.returncode != 0
    assert "--insecure" in r.stderr


def test_refuses_open_v1_api_beyond_loopback(s3rver, sluice_env):
    env = dict(sluice_env, SLUICE_S3_CREDENTIALS=f"{KEY}:{SECRET}")
    r = run_sluice(["worker", "--listen", "0.0.0.0:0", "--mount", f"d={s3rver.uri('x')}"],
                   env, timeout=30)
    assert r.returncode != 0
    assert "cluster token" in r.stderr


def test_v1_api_requires_the_cluster_token(s3rver):
    w = Worker({"data": s3rver.uri("v1auth")}, env=dict(__import__("os").environ,
                                                        SLUICE_CLUSTER_TOKEN="t0ken"))
    try:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(w.endpoint + "/v1/status")
        assert e.value.code == 403
        req = urllib.request.Request(w.endpoint + "/v1/status",
                                     headers={"Authorization": "Bearer t0ken"})
        assert urllib.request.urlopen(req).status == 200
        bad = urllib.request.Request(w.endpoint + "/v1/status",
                                     headers={"Authorization": "Bearer t0kem"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(bad)
        assert e.value.code == 403
    finally:
        w.stop()
