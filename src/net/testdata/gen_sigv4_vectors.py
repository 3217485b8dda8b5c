#!/usr/bin/python3
"""Generates sigv4_vectors.json: S3 requests signed by botocore's real signers.

Run with Debian's Python (python3-botocore): /usr/bin/python3 gen_sigv4_vectors.py
The C++ test (src/net/sigv4_test.cc) replays every vector through SigV4Verifier with the
clock set to `now`, and checks that it passes and that tampered copies fail.

Requests are captured at botocore's `before-send` event, i.e. exactly what an S3 client
would put on the wire (the Host header, which urllib3 adds later, is added from the URL).
The clock is frozen by replacing botocore.auth's `datetime` module.
"""

import base64
import datetime
import json
import os
import types
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.session

ACCESS_KEY = 'AKIDEXAMPLE'
SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
ENDPOINT = 'http://127.0.0.1:9000'
NOW = datetime.datetime(2024, 5, 1, 12, 0, 0)
NOW_UNIX = 1714564800


class _FrozenDateTime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return cls(NOW.year, NOW.month, NOW.day, NOW.hour, NOW.minute, NOW.second)


botocore.auth.datetime = types.SimpleNamespace(datetime=_FrozenDateTime)


class _Captured(Exception):
    pass


def _client(region='us-east-1', payload_signing=None):
    s3_cfg = {'addressing_style': 'path'}
    if payload_signing is not None:
        s3_cfg['payload_signing_enabled'] = payload_signing
    session = botocore.session.get_session()
    return session.create_client(
        's3', region_name=region, endpoint_url=ENDPOINT,
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        config=botocore.config.Config(signature_version='s3v4', s3=s3_cfg,
                                      retries={'max_attempts': 0}))


def _body_bytes(body):
    if body is None:
        return b''
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    pos = body.tell()
    data = body.read()
    body.seek(pos)
    return data


def _vector(name, method, url, headers, body=b'', presigned=False, region='us-east-1'):
    parts = urllib.parse.urlsplit(url)
    target = parts.path or '/'
    if parts.query:
        target += '?' + parts.query
    hdrs = [['Host', parts.netloc]]
    for k, v in headers.items():
        if isinstance(v, bytes):
            v = v.decode()
        # Unsigned and run-dependent: fixed so that the file regenerates identically.
        if k.lower() == 'user-agent':
            v = 'Botocore/' + botocore.__version__
        elif k.lower() == 'amz-sdk-invocation-id':
            v = '00000000-0000-4000-8000-000000000000'
        hdrs.append([k, v])
    return {
        'name': name, 'method': method, 'target': target, 'headers': hdrs,
        'body_base64': base64.b64encode(body).decode(), 'presigned': presigned,
        'region': region, 'now': NOW_UNIX,
    }


def capture(name, op, payload_signing=None, **kwargs):
    client = _client(payload_signing=payload_signing)
    out = {}

    def before_send(request, **_):
        out['v'] = _vector(name, request.method, request.url, dict(request.headers),
                           _body_bytes(request.body))
        raise _Captured()

    client.meta.events.register('before-send.s3', before_send)
    try:
        getattr(client, op)(**kwargs)
    except _Captured:
        pass
    return out['v']


def presign(name, op, params, expires, method, region='us-east-1'):
    url = _client(region=region).generate_presigned_url(op, Params=params, ExpiresIn=expires)
    v = _vector(name, method, url, {}, presigned=True, region=region)
    return v


def date_header_vector():
    """Signed with the Date header instead of X-Amz-Date (botocore honours Date)."""
    creds = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    req = botocore.awsrequest.AWSRequest(
        method='GET', url=ENDPOINT + '/bucket/dated.txt',
        headers={'Date': 'placeholder', 'X-Amz-Meta-Padded': '  a   b  c '})
    botocore.auth.S3SigV4Auth(creds, 's3', 'us-east-1').add_auth(req)
    headers = dict(req.headers)
    headers['X-Amz-Meta-Padded'] = 'a   b  c'  # as an HTTP server hands it over (OWS trimmed)
    return _vector('date-header-and-padded-header', 'GET', req.url, headers)


def main():
    vectors = [
        capture('list-buckets', 'list_buckets'),
        capture('get-key-with-spaces', 'get_object', Bucket='bucket', Key='photos/my file.jpg'),
        capture('get-key-unicode', 'get_object', Bucket='bucket',
                Key='données/日本語/ü.txt'),
        capture('get-key-plus-equals-amp', 'get_object', Bucket='bucket',
                Key='a+b=c&d;e,f:g@h$.txt'),
        capture('get-key-specials', 'get_object', Bucket='bucket',
                Key="x~y!z*'(q)[1]%41#?.bin"),
        capture('get-range-if-none-match', 'get_object', Bucket='bucket', Key='k',
                Range='bytes=0-99', IfNoneMatch='"abc"'),
        capture('head-object', 'head_object', Bucket='bucket', Key='dir/obj'),
        capture('list-objects-v2', 'list_objects_v2', Bucket='bucket', Prefix='dir/sub dir/',
                Delimiter='/', MaxKeys=50, StartAfter='dir/a+b'),
        capture('list-objects-v2-token', 'list_objects_v2', Bucket='bucket',
                ContinuationToken='AbC+/dEf==', EncodingType='url'),
        capture('list-objects-v1', 'list_objects', Bucket='bucket', Prefix='p',
                Marker='p/ü m'),
        capture('put-signed-payload', 'put_object', Bucket='bucket', Key='up/hello.txt',
                Body=b'hello world\n', ContentType='text/plain',
                Metadata={'note': 'x   y'}),
        capture('put-unsigned-payload', 'put_object', payload_signing=False, Bucket='bucket',
                Key='up/unsigned.bin', Body=b'\x00\x01binary'),
        capture('put-empty', 'put_object', Bucket='bucket', Key='empty'),
        capture('create-multipart', 'create_multipart_upload', Bucket='bucket', Key='mp/obj'),
        capture('upload-part', 'upload_part', Bucket='bucket', Key='mp/obj', PartNumber=2,
                UploadId='upl+id/0==', Body=b'part-two'),
        capture('complete-multipart', 'complete_multipart_upload', Bucket='bucket',
                Key='mp/obj', UploadId='uid1',
                MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': '"e1"'}]}),
        capture('delete-objects', 'delete_objects', Bucket='bucket',
                Delete={'Objects': [{'Key': 'a&b'}, {'Key': 'c'}], 'Quiet': True}),
        capture('delete-object', 'delete_object', Bucket='bucket', Key='gone'),
        date_header_vector(),
        presign('presigned-get', 'get_object', {'Bucket': 'bucket', 'Key': 'photos/my file ü.jpg'},
                3600, 'GET'),
        presign('presigned-get-with-params', 'get_object',
                {'Bucket': 'bucket', 'Key': 'a+b', 'ResponseContentType': 'text/plain'},
                900, 'GET'),
        presign('presigned-put', 'put_object', {'Bucket': 'bucket', 'Key': 'up/presigned.bin'},
                600, 'PUT'),
        presign('presigned-get-max-expiry-eu', 'get_object', {'Bucket': 'bucket', 'Key': 'k'},
                604800, 'GET', region='eu-west-1'),
    ]
    doc = {
        'generator': 'botocore ' + botocore.__version__,
        'access_key': ACCESS_KEY, 'secret_key': SECRET_KEY, 'vectors': vectors,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'sigv4_vectors.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write('\n')
    print(f'wrote {len(vectors)} vectors to {path}')


if __name__ == '__main__':
    main()
