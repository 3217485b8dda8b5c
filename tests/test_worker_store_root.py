"""A worker in front of a whole store: buckets under their own names, CreateBucket and
DeleteBucket passed through (s3rver and a local directory of buckets)."""
import os
import tempfile

import pytest
from botocore.exceptions import ClientError

from conftest import Worker, s3_client


def exercise_store(s3, existing):
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert existing in names
    s3.create_bucket(Bucket="fresh-bucket")
    assert "fresh-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="fresh-bucket")
    assert e.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket="fresh-bucket", Key="dir/obj", Body=b"through the root")
    assert s3.get_object(Bucket="fresh-bucket", Key="dir/obj")["Body"].read() == b"through the root"
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="fresh-bucket")
    assert e.value.response["Error"]["Code"] == "BucketNotEmpty"
    s3.delete_object(Bucket="fresh-bucket", Key="dir/obj")
    # A bucket sub-resource is never taken for DeleteBucket (or CreateBucket).
    for call in (lambda: s3.delete_bucket_cors(Bucket="fresh-bucket"),
                 lambda: s3.delete_bucket_policy(Bucket="fresh-bucket"),
                 lambda: s3.put_bucket_versioning(
                     Bucket="fresh-bucket", VersioningConfiguration={"Status": "Enabled"})):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "NotImplemented"
    s3.head_bucket(Bucket="fresh-bucket")  # still there
    s3.delete_bucket(Bucket="fresh-bucket")
    assert "fresh-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="fresh-bucket")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="Bad_Name")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_s3_endpoint_without_bucket(s3rver):
    w = Worker({"store": f"s3://?endpoint={s3rver.endpoint}&region=us-east-1"})
    try:
        s3 = s3_client(w.endpoint)
        # Objects written to the store directly are served (and cached) through Sluice.
        direct = s3_client(s3rver.endpoint)
        direct.put_object(Bucket=s3rver.bucket, Key="root/x", Body=b"direct")
        assert s3.get_object(Bucket=s3rver.bucket, Key="root/x")["Body"].read() == b"direct"
        exercise_store(s3, s3rver.bucket)
    finally:
        w.stop()


def test_directory_of_buckets():
    root = tempfile.mkdtemp(prefix="sluice-root-")
    os.makedirs(os.path.join(root, "existing"))
    with open(os.path.join(root, "existing", "a.txt"), "wb") as f:
        f.write(b"on disk")
    w = Worker({"local": f"file://{root}?buckets"})
    try:
        s3 = s3_client(w.endpoint)
        assert s3.get_object(Bucket="existing", Key="a.txt")["Body"].read() == b"on disk"
        exercise_store(s3, "existing")
        assert not os.path.exists(os.path.join(root, "fresh-bucket"))
    finally:
        w.stop()
