"""The worker's S3 API, driven by real clients (boto3, /usr/bin/aws, s3cmd) over s3rver."""
import concurrent.futures
import hashlib
import os
import socket
import subprocess
import tempfile
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Worker, s3_client, free_port, run_sluice


@pytest.fixture(scope="module", params=["s3", "file"])
def worker(request, s3rver):
    """The same suite over an S3 under store (s3rver) and a file:// one."""
    cache = tempfile.mkdtemp(prefix="sluice-cache-")
    if request.param == "s3":
        uri = s3rver.uri("s3api")
    else:
        uri = "file://" + tempfile.mkdtemp(prefix="sluice-ufs-")
    w = Worker({"data": uri}, cache_dir=cache)
    yield w
    w.stop()


@pytest.fixture(scope="module")
def s3(worker):
    return s3_client(worker.endpoint)


def code_of(exc):
    return exc.value.response["Error"]["Code"]


def test_round_trip_small_object(s3):
    s3.put_object(Bucket="data", Key="small/hello.txt", Body=b"hello, sluice")
    got = s3.get_object(Bucket="data", Key="small/hello.txt")
    assert got["Body"].read() == b"hello, sluice"
    assert got["ContentLength"] == 13
    head = s3.head_object(Bucket="data", Key="small/hello.txt")
    assert head["ETag"] == got["ETag"]
    assert head["ContentLength"] == 13


def test_round_trip_200mib_object_multipart(s3, tmp_path):
    src = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with open(src, "wb") as f:
        for i in range(200):
            f.write(block[i:] + block[:i])
    s3.upload_file(str(src), "data", "big/200m.bin")  # boto3 uses multipart above 8 MiB
    dst = tmp_path / "back.bin"
    s3.download_file("data", "big/200m.bin", str(dst))
    assert hashlib.md5(src.read_bytes()).digest() == hashlib.md5(dst.read_bytes()).digest()


def test_every_range_form(s3):
    body = bytes(range(256)) * 40  # 10240 bytes
    s3.put_object(Bucket="data", Key="range/obj", Body=body)
    cases = {"bytes=0-9": body[0:10], "bytes=100-": body[100:], "bytes=-50": body[-50:],
             "bytes=10000-20000": body[10000:], "bytes=5-5": body[5:6]}
    for rng, want in cases.items():
        got = s3.get_object(Bucket="data", Key="range/obj", Range=rng)
        assert got["Body"].read() == want, rng
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"].endswith("/10240")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="range/obj", Range="bytes=20000-30000")
    assert code_of(e) == "InvalidRange"
    # An invalid Range header is ignored, as S3 does: the whole object.
    got = s3.get_object(Bucket="data", Key="range/obj", Range="bytes=abc")
    assert got["Body"].read() == body


def test_listing_with_delimiter_and_pagination_over_2000_keys(s3):
    keys = [f"list/d{i % 4}/k{i:05d}" for i in range(2000)]
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket="data", Key=k, Body=k.encode()), keys))
    top = s3.list_objects_v2(Bucket="data", Prefix="list/", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == [f"list/d{i}/" for i in range(4)]
    seen = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket="data", Prefix="list/", PaginationConfig={"PageSize": 300}):
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == sorted(keys)
    v1 = []
    for page in s3.get_paginator("list_objects").paginate(
            Bucket="data", Prefix="list/d1/", PaginationConfig={"PageSize": 123}):
        v1 += [o["Key"] for o in page.get("Contents", [])]
    assert v1 == sorted(k for k in keys if k.startswith("list/d1/"))
    after = s3.list_objects_v2(Bucket="data", Prefix="list/d0/", StartAfter="list/d0/k01000",
                               MaxKeys=5)
    assert [o["Key"] for o in after["Contents"]] == sorted(
        k for k in keys if k.startswith("list/d0/") and k > "list/d0/k01000")[:5]


def test_conditional_requests(s3):
    s3.put_object(Bucket="data", Key="cond/x", Body=b"v1")
    etag = s3.head_object(Bucket="data", Key="cond/x")["ETag"]
    assert s3.get_object(Bucket="data", Key="cond/x", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="cond/x", IfMatch='"nope"')
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="cond/x", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    past = "Mon, 01 Jan 2001 00:00:00 GMT"
    future = "Fri, 01 Jan 2100 00:00:00 GMT"
    assert s3.get_object(Bucket="data", Key="cond/x", IfModifiedSince=past)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="cond/x", IfModifiedSince=future)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="cond/x", IfUnmodifiedSince=past)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_multipart_api(s3):
    up = s3.create_multipart_upload(Bucket="data", Key="mp/obj")["UploadId"]
    p1 = os.urandom(5 << 20)
    p2 = os.urandom(1234)
    e1 = s3.upload_part(Bucket="data", Key="mp/obj", UploadId=up, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket="data", Key="mp/obj", UploadId=up, PartNumber=2, Body=p2)["ETag"]
    assert e1.strip('"') == hashlib.md5(p1).hexdigest()
    parts = s3.list_parts(Bucket="data", Key="mp/obj", UploadId=up)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket="data", Key="mp/obj", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"deadbeef"'}]})
    assert code_of(e) == "InvalidPart"
    done = s3.complete_multipart_upload(Bucket="data", Key="mp/obj", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert s3.get_object(Bucket="data", Key="mp/obj")["Body"].read() == p1 + p2
    # A retried Complete (the client's read timed out) answers the object it made, as S3's.
    again = s3.complete_multipart_upload(Bucket="data", Key="mp/obj", UploadId=up,
                                         MultipartUpload={"Parts": [
                                             {"PartNumber": 1, "ETag": e1},
                                             {"PartNumber": 2, "ETag": e2}]})
    assert again["ETag"] == done["ETag"]
    up2 = s3.create_multipart_upload(Bucket="data", Key="mp/aborted")["UploadId"]
    s3.upload_part(Bucket="data", Key="mp/aborted", UploadId=up2, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket="data", Key="mp/aborted", UploadId=up2)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket="data", Key="mp/aborted", UploadId=up2)
    assert code_of(e) == "NoSuchUpload"
    with pytest.raises(ClientError):
        s3.head_object(Bucket="data", Key="mp/aborted")


def test_a_slow_complete_keeps_the_connection_alive_with_spaces(tmp_path):
    """Past complete_keepalive, CompleteMultipartUpload answers 200 at once and sends
    spaces while the parts stream (as S3 does), so clients with a read timeout do not give
    up on large objects; boto3 reads such an answer as any other."""
    from conftest import yaml_config
    import urllib.request
    with yaml_config("complete_keepalive: 0s\n") as cfg:
        w = Worker({"data": f"file://{tmp_path}"}, extra=["--config", cfg])
        try:
            s3 = s3_client(w.endpoint)
            parts = [os.urandom(5 << 20), os.urandom(5 << 20), os.urandom(999)]

            def staged(key):
                up = s3.create_multipart_upload(Bucket="data", Key=key)["UploadId"]
                tags = [s3.upload_part(Bucket="data", Key=key, UploadId=up, PartNumber=i + 1,
                                       Body=p)["ETag"] for i, p in enumerate(parts)]
                return up, [{"PartNumber": i + 1, "ETag": t} for i, t in enumerate(tags)]

            up, listed = staged("ka/raw")
            body = "<CompleteMultipartUpload>" + "".join(
                f"<Part><PartNumber>{p['PartNumber']}</PartNumber><ETag>{p['ETag']}</ETag></Part>"
                for p in listed) + "</CompleteMultipartUpload>"
            req = urllib.request.Request(f"{w.endpoint}/data/ka/raw?uploadId={up}",
                                         data=body.encode(), method="POST")
            with urllib.request.urlopen(req, timeout=60) as r:
                assert r.status == 200
                assert r.headers.get("Content-Length") is None  # chunked: sent as it goes
                text = r.read().decode()
            decl = '<?xml version="1.0" encoding="UTF-8"?>\n'
            assert text.startswith(decl + " "), text[:80]
            assert "<CompleteMultipartUploadResult" in text
            assert s3.get_object(Bucket="data", Key="ka/raw")["Body"].read() == b"".join(parts)

            up, listed = staged("ka/boto")
            res = s3.complete_multipart_upload(Bucket="data", Key="ka/boto", UploadId=up,
                                               MultipartUpload={"Parts": listed})
            assert res["ETag"] == s3.head_object(Bucket="data", Key="ka/boto")["ETag"]
            assert s3.get_object(Bucket="data", Key="ka/boto")["Body"].read() == b"".join(parts)
        finally:
            w.stop()


def test_deletes(s3):
    for i in range(5):
        s3.put_object(Bucket="data", Key=f"del/{i}", Body=b"x")
    s3.delete_object(Bucket="data", Key="del/0")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="del/0")
    assert code_of(e) == "NoSuchKey"
    res = s3.delete_objects(Bucket="data", Delete={"Objects": [{"Key": f"del/{i}"}
                                                              for i in range(1, 5)]})
    assert sorted(d["Key"] for d in res["Deleted"]) == [f"del/{i}" for i in range(1, 5)]
    assert s3.list_objects_v2(Bucket="data", Prefix="del/")["KeyCount"] == 0
    s3.delete_object(Bucket="data", Key="del/never-existed")  # S3: deleting nothing is fine


def test_buckets_are_mounts(s3):
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert names == ["data"]
    s3.head_bucket(Bucket="data")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="nosuch")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="nosuch", Key="x")
    assert code_of(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="no/such/key")
    assert code_of(e) == "NoSuchKey"


def raw_request(port, data, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
                if b"\r\n\r\n" in b"".join(chunks) and not data.startswith(b"GET /data/"):
                    break
        except socket.timeout:
            pass
    return b"".join(chunks)


def test_malformed_requests(worker, s3):
    assert raw_request(worker.port, b"\x00\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    big = b"GET /data/x HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n"
    assert raw_request(worker.port, big).startswith(b"HTTP/1.1 431")
    esc = raw_request(worker.port, b"GET /data/../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n")
    assert esc.split(b"\r\n")[0] in (b"HTTP/1.1 403 Forbidden", b"HTTP/1.1 400 Bad Request")
    enc = raw_request(worker.port, b"GET /data/a%2F..%2F..%2Fetc HTTP/1.1\r\nHost: a\r\n\r\n")
    assert enc.split(b"\r\n")[0] in (b"HTTP/1.1 403 Forbidden", b"HTTP/1.1 400 Bad Request")
    # An encoded slash is a slash inside the mount: it reads the object it names.
    s3.put_object(Bucket="data", Key="enc/a/b", Body=b"ok")
    got = raw_request(worker.port, b"GET /data/enc%2Fa%2Fb HTTP/1.1\r\nHost: a\r\n"
                                   b"Connection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200") and got.endswith(b"ok")
    # A PUT with neither Content-Length nor chunked framing has no body in HTTP/1.1: 411,
    # and the object stays as it was (it was stored empty, and "hello" read as a request).
    s3.put_object(Bucket="data", Key="enc/unframed", Body=b"before")
    got = raw_request(worker.port, b"PUT /data/enc/unframed HTTP/1.1\r\nHost: a\r\n\r\nhello")
    assert got.startswith(b"HTTP/1.1 411"), got[:200]
    assert b"MissingContentLength" in got or b"Content-Length: " in got
    assert s3.get_object(Bucket="data", Key="enc/unframed")["Body"].read() == b"before"
    # The worker is still healthy after all of it.
    assert s3.get_object(Bucket="data", Key="enc/a/b")["Body"].read() == b"ok"


def test_awscli_and_s3cmd(worker, tmp_path):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER",
               AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_CA_BUNDLE", None)
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(300000))
    aws = ["/usr/bin/aws", "--endpoint-url", worker.endpoint, "s3"]
    subprocess.run(aws + ["cp", str(src), "s3://data/cli/f.bin"], env=env, check=True,
                   capture_output=True, timeout=120)
    ls = subprocess.run(aws + ["ls", "s3://data/cli/"], env=env, check=True, capture_output=True,
                        text=True, timeout=60).stdout
    assert "f.bin" in ls
    back = tmp_path / "back.bin"
    subprocess.run(aws + ["cp", "s3://data/cli/f.bin", str(back)], env=env, check=True,
                   capture_output=True, timeout=120)
    assert back.read_bytes() == src.read_bytes()
    host = worker.endpoint.removeprefix("http://")
    s3cmd = ["s3cmd", "--access_key=S3RVER", "--secret_key=S3RVER", f"--host={host}",
             f"--host-bucket={host}", "--no-ssl", "--region=us-east-1", "-c", "/dev/null"]
    subprocess.run(s3cmd + ["put", str(src), "s3://data/cli/s3cmd.bin"], env=env, check=True,
                   capture_output=True, timeout=120)
    out = subprocess.run(s3cmd + ["ls", "s3://data/cli/"], env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert "s3cmd.bin" in out
    back2 = tmp_path / "back2.bin"
    subprocess.run(s3cmd + ["get", "s3://data/cli/s3cmd.bin", str(back2)], env=env, check=True,
                   capture_output=True, timeout=120)
    assert back2.read_bytes() == src.read_bytes()


def test_metrics_and_health(worker, s3):
    import urllib.request
    assert urllib.request.urlopen(worker.endpoint + "/healthz").read() == b"ok\n"
    assert urllib.request.urlopen(worker.endpoint + "/readyz").status == 200
    m = worker.metrics()
    assert m["sluice_page_store_capacity_bytes"] > 0
    assert any(k.startswith("sluice_s3_requests_total{") for k in m)
    assert any(k.startswith("sluice_s3_request_seconds_bucket{") for k in m)


def test_request_ids_and_counts_on_both_paths(worker, s3):
    """Hot GETs are answered on an I/O thread, others on handler threads; both give each
    response its own x-amz-request-id and count it under its op and status."""
    import http.client
    import re
    s3.put_object(Bucket="data", Key="metrics/obj", Body=b"m" * 1000)
    host, port = worker.endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def send(method, headers=None, query=""):
        conn.request(method, "/data/metrics/obj" + query, headers=headers or {})
        r = conn.getresponse()
        r.read()
        rid = r.getheader("x-amz-request-id")
        assert rid is not None and re.fullmatch(r"[0-9A-F]{16}", rid), rid
        return r.status, rid

    send("GET")  # warms the cache
    key = 'sluice_s3_requests_total{{op="{}",status="{}"}}'
    before = worker.metrics()
    answers = [send("GET"), send("GET", {"Range": "bytes=0-9"}), send("GET", {"Range": "bytes=10-"}),
               send("HEAD"), send("GET", query="?response-content-type=text/plain")]
    after = worker.metrics()
    conn.close()
    assert [status for status, _ in answers] == [200, 206, 206, 200, 200]
    assert len({rid for _, rid in answers}) == len(answers)

    def delta(name):
        return after.get(name, 0) - before.get(name, 0)
    assert delta(key.format("GetObject", 200)) == 2
    assert delta(key.format("GetObject", 206)) == 2
    assert delta(key.format("HeadObject", 200)) == 1
    # The query string sends the last GET to a handler thread; the others may go inline.
    assert 1 <= delta("sluice_s3_inline_requests_total") <= 4


def http_call(worker, method, path, body=b"", headers=None):
    """One plain HTTP request to the worker: (status, headers, body)."""
    import http.client
    host, port = worker.endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def test_subresources_never_act_on_the_object_or_bucket(worker, s3):
    """?tagging, ?acl, ?versionId=... and the like are refused (501), never served as the
    plain PUT, GET or DELETE they would otherwise look like."""
    s3.put_object(Bucket="data", Key="sub/obj", Body=b"ORIGINAL")
    tagging = {"TagSet": [{"Key": "k", "Value": "v"}]}
    calls = [
        lambda: s3.put_object_tagging(Bucket="data", Key="sub/obj", Tagging=tagging),
        lambda: s3.delete_object_tagging(Bucket="data", Key="sub/obj"),
        lambda: s3.get_object_acl(Bucket="data", Key="sub/obj"),
        lambda: s3.get_object(Bucket="data", Key="sub/obj", VersionId="3HL4kqtJlcpXroDTDmJ"),
        lambda: s3.put_bucket_versioning(Bucket="data",
                                         VersioningConfiguration={"Status": "Enabled"}),
        lambda: s3.list_object_versions(Bucket="data"),
        lambda: s3.put_bucket_tagging(Bucket="data", Tagging=tagging),
        lambda: s3.delete_bucket_cors(Bucket="data"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == "NotImplemented"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    # Nothing was overwritten or deleted; the "null" version is the object itself.
    assert s3.get_object(Bucket="data", Key="sub/obj")["Body"].read() == b"ORIGINAL"
    got = s3.get_object(Bucket="data", Key="sub/obj", VersionId="null")
    assert got["Body"].read() == b"ORIGINAL"
    # Part 1 of an object uploaded whole is the object (clients size objects this way).
    part = s3.get_object(Bucket="data", Key="sub/obj", PartNumber=1)
    assert part["Body"].read() == b"ORIGINAL" and part["ContentRange"] == "bytes 0-7/8"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="sub/obj", PartNumber=2)
    assert code_of(e) == "InvalidPartNumber"
    assert s3.get_bucket_versioning(Bucket="data")["ResponseMetadata"]["HTTPStatusCode"] == 200
    status, _, body = http_call(worker, "POST", "/data/sub/obj?restore", b"<RestoreRequest/>")
    assert status == 501 and b"NotImplemented" in body
    assert s3.get_object(Bucket="data", Key="sub/obj")["Body"].read() == b"ORIGINAL"


def test_conditional_writes(worker, s3):
    """If-None-Match: * and If-Match on PutObject and CompleteMultipartUpload, as in S3."""
    status, _, _ = http_call(worker, "PUT", "/data/cw/new", b"first", {"If-None-Match": "*"})
    assert status == 200
    status, _, body = http_call(worker, "PUT", "/data/cw/new", b"second", {"If-None-Match": "*"})
    assert status == 412 and b"PreconditionFailed" in body
    etag = s3.head_object(Bucket="data", Key="cw/new")["ETag"]
    assert s3.get_object(Bucket="data", Key="cw/new")["Body"].read() == b"first"
    status, _, body = http_call(worker, "PUT", "/data/cw/new", b"third", {"If-Match": '"stale"'})
    assert status == 412 and b"PreconditionFailed" in body
    status, _, _ = http_call(worker, "PUT", "/data/cw/new", b"fourth", {"If-Match": etag})
    assert status == 200
    assert s3.get_object(Bucket="data", Key="cw/new")["Body"].read() == b"fourth"
    status, _, body = http_call(worker, "PUT", "/data/cw/absent", b"x", {"If-Match": etag})
    assert status == 404 and b"NoSuchKey" in body
    with pytest.raises(ClientError):
        s3.head_object(Bucket="data", Key="cw/absent")
    # Completing an upload over an existing key with If-None-Match: * fails; the upload
    # stays open and completes without the condition.
    up = s3.create_multipart_upload(Bucket="data", Key="cw/new")["UploadId"]
    e1 = s3.upload_part(Bucket="data", Key="cw/new", UploadId=up, PartNumber=1,
                        Body=b"multipart")["ETag"]
    xml = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{e1}</ETag>"
           f"</Part></CompleteMultipartUpload>").encode()
    status, _, body = http_call(worker, "POST", f"/data/cw/new?uploadId={up}", xml,
                                {"If-None-Match": "*"})
    assert status == 412 and b"PreconditionFailed" in body
    assert s3.get_object(Bucket="data", Key="cw/new")["Body"].read() == b"fourth"
    status, _, _ = http_call(worker, "POST", f"/data/cw/new?uploadId={up}", xml)
    assert status == 200
    assert s3.get_object(Bucket="data", Key="cw/new")["Body"].read() == b"multipart"


def test_multipart_refusals(worker, s3):
    import base64
    up = s3.create_multipart_upload(Bucket="data", Key="mpr/obj")["UploadId"]
    good = os.urandom(5 << 20)
    e1 = s3.upload_part(Bucket="data", Key="mpr/obj", UploadId=up, PartNumber=1, Body=good)["ETag"]
    # A part whose Content-MD5 differs is refused and the earlier part 1 stays.
    wrong_md5 = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket="data", Key="mpr/obj", UploadId=up, PartNumber=1,
                       Body=b"corrupted in transit", ContentMD5=wrong_md5)
    assert code_of(e) == "BadDigest"
    status, _, body = http_call(worker, "PUT", f"/data/mpr/obj?partNumber=2&uploadId={up}",
                                b"x", {"Content-MD5": "not base64!"})
    assert status == 400 and b"InvalidDigest" in body
    # UploadPartCopy is not supported: refused, not stored as an empty part.
    s3.put_object(Bucket="data", Key="mpr/src", Body=b"source")
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket="data", Key="mpr/obj", UploadId=up, PartNumber=2,
                            CopySource={"Bucket": "data", "Key": "mpr/src"})
    assert code_of(e) == "NotImplemented"
    status, _, body = http_call(worker, "PUT", f"/data/mpr/obj?partNumber=3abc&uploadId={up}", b"x")
    assert status == 400 and b"InvalidArgument" in body
    assert [p["PartNumber"] for p in
            s3.list_parts(Bucket="data", Key="mpr/obj", UploadId=up)["Parts"]] == [1]
    # Every part but the last must be 5 MiB or more.
    small = s3.upload_part(Bucket="data", Key="mpr/obj", UploadId=up, PartNumber=2,
                           Body=b"small")["ETag"]
    e3 = s3.upload_part(Bucket="data", Key="mpr/obj", UploadId=up, PartNumber=3,
                        Body=b"last")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket="data", Key="mpr/obj", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": small},
                      {"PartNumber": 3, "ETag": e3}]})
    assert code_of(e) == "EntityTooSmall"
    s3.complete_multipart_upload(Bucket="data", Key="mpr/obj", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e3}]})
    assert s3.get_object(Bucket="data", Key="mpr/obj")["Body"].read() == good + b"last"


def test_list_parts_pages_and_open_uploads_are_listed(worker, s3):
    up = s3.create_multipart_upload(Bucket="data", Key="lmu/obj")["UploadId"]
    for n in (1, 2, 3):
        s3.upload_part(Bucket="data", Key="lmu/obj", UploadId=up, PartNumber=n, Body=b"p%d" % n)
    first = s3.list_parts(Bucket="data", Key="lmu/obj", UploadId=up, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] and first["NextPartNumberMarker"] == 2
    rest = s3.list_parts(Bucket="data", Key="lmu/obj", UploadId=up, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and not rest["IsTruncated"]
    status, _, body = http_call(worker, "GET", f"/data/lmu/obj?uploadId={up}&max-parts=lots")
    assert status == 400 and b"InvalidArgument" in body
    listed = s3.list_multipart_uploads(Bucket="data", Prefix="lmu/")
    assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == [("lmu/obj", up)]
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="data", Prefix="elsewhere/")
    s3.abort_multipart_upload(Bucket="data", Key="lmu/obj", UploadId=up)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="data", Prefix="lmu/")


def test_listing_details_as_s3(worker, s3):
    for i in range(3):
        s3.put_object(Bucket="data", Key=f"ld/{i}", Body=b"x")
    flat = s3.list_objects(Bucket="data", Prefix="ld/", MaxKeys=2)
    assert flat["IsTruncated"] and "NextMarker" not in flat  # only with a delimiter
    rest = s3.list_objects(Bucket="data", Prefix="ld/", Marker=flat["Contents"][-1]["Key"])
    assert [o["Key"] for o in rest["Contents"]] == ["ld/2"]
    status, _, body = http_call(worker, "GET", "/data?list-type=2&encoding-type=bogus")
    assert status == 400 and b"InvalidArgument" in body
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="ld/never-written")
    assert code_of(e) == "NoSuchKey"
    # S3's words, not the under store's URI or path.
    assert e.value.response["Error"]["Message"] == "The specified key does not exist."


def test_content_type_and_user_metadata_are_kept(worker, s3):
    """Content-Type, Content-Encoding, Cache-Control, Content-Disposition and x-amz-meta-*
    are stored with the object and returned by GET and HEAD, hot or cold, for single and
    multipart uploads; response-* parameters override them; the default is S3's."""
    s3.put_object(Bucket="data", Key="meta/page.json.gz", Body=b"\x1f\x8bzipped",
                  ContentType="application/json", ContentEncoding="gzip",
                  CacheControl="max-age=60", ContentDisposition='attachment; filename="p.json"',
                  Metadata={"owner": "team-a", "run": "42"})

    def check(got):
        assert got["ContentType"] == "application/json"
        assert got["ContentEncoding"] == "gzip"
        assert got["CacheControl"] == "max-age=60"
        assert got["ContentDisposition"] == 'attachment; filename="p.json"'
        assert got["Metadata"] == {"owner": "team-a", "run": "42"}

    inline = worker.metrics().get("sluice_s3_inline_requests_total", 0)
    for _ in range(2):  # answered from memory, on the I/O thread's inline path
        got = s3.get_object(Bucket="data", Key="meta/page.json.gz")
        assert got["Body"].read() == b"\x1f\x8bzipped"
        check(got)
    assert worker.metrics()["sluice_s3_inline_requests_total"] > inline
    check(s3.head_object(Bucket="data", Key="meta/page.json.gz"))
    # A listing-fed stat (a load's) carries no headers: the next GET still has them.
    env = dict(os.environ, SLUICE_CLUSTER=worker.endpoint.removeprefix("http://"))
    r = run_sluice(["load", "-r", "/data/meta"], env)
    assert r.returncode == 0, r.stderr
    check(s3.get_object(Bucket="data", Key="meta/page.json.gz"))
    over = s3.get_object(Bucket="data", Key="meta/page.json.gz",
                         ResponseContentType="text/plain", ResponseCacheControl="no-cache")
    assert over["ContentType"] == "text/plain" and over["CacheControl"] == "no-cache"
    with pytest.raises(ClientError) as e:  # S3's limit on user metadata: 2 KB
        s3.put_object(Bucket="data", Key="meta/big", Body=b"x", Metadata={"k": "v" * 3000})
    assert code_of(e) == "MetadataTooLarge"
    # An error document never carries the object's stored headers.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="meta/page.json.gz", Range="bytes=999-")
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"].get("content-encoding") is None
    plain = s3.put_object(Bucket="data", Key="meta/plain", Body=b"x")
    assert plain["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = s3.head_object(Bucket="data", Key="meta/plain")
    assert got["ContentType"] == "binary/octet-stream" and got["Metadata"] == {}
    up = s3.create_multipart_upload(Bucket="data", Key="meta/multi", ContentType="text/csv",
                                    Metadata={"rows": "7"})["UploadId"]
    e1 = s3.upload_part(Bucket="data", Key="meta/multi", UploadId=up, PartNumber=1,
                        Body=b"a,b\n")["ETag"]
    s3.complete_multipart_upload(Bucket="data", Key="meta/multi", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}]})
    got = s3.get_object(Bucket="data", Key="meta/multi")
    assert got["ContentType"] == "text/csv" and got["Metadata"] == {"rows": "7"}


def test_metadata_written_beside_sluice_is_served_cold_and_hot(s3rver):
    direct = s3_client(s3rver.endpoint)
    direct.put_object(Bucket=s3rver.bucket, Key="beside/img", Body=b"png bytes",
                      ContentType="image/png", Metadata={"camera": "left"})
    direct.put_object(Bucket=s3rver.bucket, Key="beside/empty", Body=b"",
                      ContentType="text/plain", Metadata={"n": "0"})
    w = Worker({"data": s3rver.uri()})
    try:
        s3 = s3_client(w.endpoint)
        # An empty object's cold read is answered 416 by the store: those headers are the
        # error document's, not the object's.
        for _ in range(2):
            got = s3.get_object(Bucket="data", Key="beside/empty")
            assert got["Body"].read() == b""
            assert got["ContentType"] == "text/plain" and got["Metadata"] == {"n": "0"}
        for _ in range(2):  # cold (one GET to the store), then from the cache
            got = s3.get_object(Bucket="data", Key="beside/img")
            assert got["Body"].read() == b"png bytes"
            assert got["ContentType"] == "image/png" and got["Metadata"] == {"camera": "left"}
    finally:
        w.stop()


def test_v1_refuses_a_parameter_given_twice(worker):
    """Routing and serving must read one path: PUT ?path=A&path=B is refused, not written
    to A by the owner of B."""
    status, _, body = http_call(worker, "PUT", "/v1/write?path=/data/dup/a&path=/data/dup/b", b"x")
    assert status == 400 and b"given twice" in body
    status, _, _ = http_call(worker, "GET", "/v1/stat?path=/data/dup/a")
    assert status == 404


def test_v1_api_round_trip(worker):
    import json
    import urllib.request
    put = urllib.request.Request(worker.endpoint + "/v1/write?path=/data/v1/obj", data=b"v1 bytes",
                                 method="PUT")
    info = json.loads(urllib.request.urlopen(put).read())
    assert info["size"] == 8
    stat = json.loads(urllib.request.urlopen(worker.endpoint + "/v1/stat?path=/data/v1/obj").read())
    assert stat["version"] == info["version"]
    got = urllib.request.urlopen(worker.endpoint + "/v1/read?path=/data/v1/obj&offset=3&length=3")
    assert got.read() == b"byt"
    listing = json.loads(urllib.request.urlopen(worker.endpoint + "/v1/list?path=/data/v1").read())
    assert [o["path"] for o in listing["objects"]] == ["/data/v1/obj"]
    free = urllib.request.Request(worker.endpoint + "/v1/free?path=/data/v1", method="POST")
    assert json.loads(urllib.request.urlopen(free).read())["objects"] == 1
    status = json.loads(urllib.request.urlopen(worker.endpoint + "/v1/status").read())
    assert status["state"] == "ready" and status["capacity_bytes"] > 0
    try:
        urllib.request.urlopen(worker.endpoint + "/v1/stat?path=/data/v1/missing")
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404
        assert json.loads(e.read())["error"]["code"] == "NotFound"


def test_aws_chunked_bodies_are_refused_not_stored(worker):
    req = (b"PUT /data/chunked/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
           b"x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n"
           b"Connection: close\r\n\r\nhello")
    assert raw_request(worker.port, req).startswith(b"HTTP/1.1 501")
