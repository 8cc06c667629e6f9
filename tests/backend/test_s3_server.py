"""The local stack's own S3 server answers as S3 does: SigV4 checks, objects, ranges, conditional writes,
multipart rules, listings, and a store that a killed process leaves consistent."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from backend.local.s3.http import S3Server
from backend.local.s3.service import S3Service
from backend.local.s3.store import S3Store

KEY_ID, SECRET = "S3UPTESTKEY", "s3up-test-secret"
MIB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.shift = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(tmp_path: Path, clock: Clock) -> Iterator[S3Server]:
    store = S3Store(tmp_path / "s3")
    running = S3Server(S3Service(store, {KEY_ID: SECRET}, clock))
    running.start()
    yield running
    running.stop()
    store.close()


def client(server: S3Server, secret: str = SECRET, **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, **config),
    )


@pytest.fixture
def s3(server: S3Server) -> Any:
    api = client(server)
    api.create_bucket(Bucket="bucket")
    return api


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_objects_round_trip_with_their_headers_and_ranges(s3: Any) -> None:
    s3.put_object(
        Bucket="bucket", Key="a b/c+d é.txt", Body=b"hello world", ContentType="text/html",
        ContentDisposition="attachment", Metadata={"origin": "test"},
    )  # fmt: skip
    head = s3.head_object(Bucket="bucket", Key="a b/c+d é.txt")
    assert (head["ContentType"], head["ContentLength"], head["ContentDisposition"]) == (
        "text/html",
        11,
        "attachment",
    )
    assert head["ETag"] == f'"{hashlib.md5(b"hello world").hexdigest()}"'
    assert head["Metadata"] == {"origin": "test"}
    assert s3.get_object(Bucket="bucket", Key="a b/c+d é.txt", Range="bytes=6-")["Body"].read() == b"world"
    assert s3.get_object(Bucket="bucket", Key="a b/c+d é.txt", Range="bytes=-3")["Body"].read() == b"rld"
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket="bucket", Key="nothing")
    assert code(missing) == "NoSuchKey"
    s3.delete_object(Bucket="bucket", Key="a b/c+d é.txt")
    assert s3.list_objects_v2(Bucket="bucket")["KeyCount"] == 0


def test_conditional_writes(s3: Any) -> None:
    s3.put_object(Bucket="bucket", Key="taken", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as taken:
        s3.put_object(Bucket="bucket", Key="taken", Body=b"second", IfNoneMatch="*")
    assert code(taken) == "PreconditionFailed"
    upload = s3.create_multipart_upload(Bucket="bucket", Key="taken")["UploadId"]
    etag = s3.upload_part(Bucket="bucket", Key="taken", UploadId=upload, PartNumber=1, Body=b"x")["ETag"]
    with pytest.raises(ClientError) as late:
        s3.complete_multipart_upload(
            Bucket="bucket", Key="taken", UploadId=upload, IfNoneMatch="*",
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )  # fmt: skip
    assert code(late) == "PreconditionFailed"
    assert s3.get_object(Bucket="bucket", Key="taken")["Body"].read() == b"first"


def test_multipart_rules_and_etag(s3: Any) -> None:
    upload = s3.create_multipart_upload(Bucket="bucket", Key="big.bin", ContentType="video/mp4")["UploadId"]
    parts = {1: os.urandom(5 * MIB), 2: os.urandom(MIB), 3: b"tail"}
    etags = {
        n: s3.upload_part(Bucket="bucket", Key="big.bin", UploadId=upload, PartNumber=n, Body=data)["ETag"]
        for n, data in parts.items()
    }
    listed = s3.list_parts(Bucket="bucket", Key="big.bin", UploadId=upload, MaxParts=2)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2]
    assert listed["IsTruncated"] is True
    more = s3.list_parts(Bucket="bucket", Key="big.bin", UploadId=upload, PartNumberMarker=2)
    assert [p["PartNumber"] for p in more["Parts"]] == [3]

    def complete(chosen: list[tuple[int, str]]) -> Any:
        listing = [{"PartNumber": n, "ETag": e} for n, e in chosen]
        return s3.complete_multipart_upload(
            Bucket="bucket", Key="big.bin", UploadId=upload, MultipartUpload={"Parts": listing}
        )

    for chosen, expected in (
        ([(2, etags[2]), (3, etags[3])], "EntityTooSmall"),  # part 2 is 1 MiB and not the last
        ([(1, etags[1]), (3, etags[2])], "InvalidPart"),
        ([(3, etags[3]), (1, etags[1])], "InvalidPartOrder"),
    ):
        with pytest.raises(ClientError) as refused:
            complete(chosen)
        assert code(refused) == expected
    done = complete([(1, etags[1]), (3, etags[3])])  # a gap is allowed, as on S3; part 2 is dropped
    md5s = b"".join(hashlib.md5(parts[n]).digest() for n in (1, 3))
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-2"'
    got = s3.get_object(Bucket="bucket", Key="big.bin")
    assert got["ContentType"] == "video/mp4"
    assert got["Body"].read() == parts[1] + parts[3]
    ranged = s3.get_object(Bucket="bucket", Key="big.bin", Range=f"bytes={5 * MIB - 2}-{5 * MIB + 1}")
    assert ranged["Body"].read() == parts[1][-2:] + parts[3][:2]
    with pytest.raises(ClientError) as gone:
        s3.list_parts(Bucket="bucket", Key="big.bin", UploadId=upload)
    assert code(gone) == "NoSuchUpload"


def test_abort_and_listing_uploads(s3: Any) -> None:
    ids = [s3.create_multipart_upload(Bucket="bucket", Key=f"u/{i}")["UploadId"] for i in range(3)]
    page = s3.list_multipart_uploads(Bucket="bucket", MaxUploads=2)
    assert [u["Key"] for u in page["Uploads"]] == ["u/0", "u/1"]
    assert page["IsTruncated"] is True
    rest = s3.list_multipart_uploads(
        Bucket="bucket", KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"]
    )
    assert [u["Key"] for u in rest["Uploads"]] == ["u/2"]
    s3.abort_multipart_upload(Bucket="bucket", Key="u/0", UploadId=ids[0])
    with pytest.raises(ClientError) as gone:
        s3.abort_multipart_upload(Bucket="bucket", Key="u/0", UploadId=ids[0])
    assert code(gone) == "NoSuchUpload"
    with pytest.raises(ClientError) as wrong_key:
        s3.list_parts(Bucket="bucket", Key="u/9", UploadId=ids[1])
    assert code(wrong_key) == "NoSuchUpload"


def test_listing_objects_pages_prefixes_and_delimiters(s3: Any) -> None:
    for key in ("a/1", "a/2", "b/1", "c"):
        s3.put_object(Bucket="bucket", Key=key, Body=b"")
    first = s3.list_objects_v2(Bucket="bucket", MaxKeys=2)
    assert [o["Key"] for o in first["Contents"]] == ["a/1", "a/2"]
    second = s3.list_objects_v2(Bucket="bucket", ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in second["Contents"]] == ["b/1", "c"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="bucket", Prefix="a/")["Contents"]] == ["a/1", "a/2"]
    folders = s3.list_objects_v2(Bucket="bucket", Delimiter="/")
    assert [p["Prefix"] for p in folders["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in folders["Contents"]] == ["c"]
    with pytest.raises(ClientError) as busy:
        s3.delete_bucket(Bucket="bucket")
    assert code(busy) == "BucketNotEmpty"


def test_signatures_are_checked(server: S3Server, s3: Any, clock: Clock) -> None:
    with pytest.raises(ClientError) as wrong:
        client(server, secret="not-the-secret").head_object(Bucket="bucket", Key="x")
    assert wrong.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as bad_put:
        client(server, secret="not-the-secret").put_object(Bucket="bucket", Key="x", Body=b"x")
    assert code(bad_put) == "SignatureDoesNotMatch"
    assert requests.get(f"{server.url}/bucket/x", timeout=10).status_code == 403  # anonymous
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "bucket", "Key": "p.bin"}, ExpiresIn=60)
    assert requests.put(url.replace("p.bin", "q.bin"), data=b"x", timeout=10).status_code == 403
    assert requests.put(url, data=b"in time", timeout=10).status_code == 200
    clock.shift = timedelta(seconds=61)
    late = requests.put(url, data=b"late", timeout=10)
    assert late.status_code == 403
    assert "<Message>Request has expired</Message>" in late.text
    clock.shift = timedelta(minutes=16)
    with pytest.raises(ClientError) as skewed:
        s3.head_bucket(Bucket="bucket")
    assert skewed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403  # RequestTimeTooSkewed


def test_presigned_part_urls_sign_only_the_part(s3: Any) -> None:
    upload = s3.create_multipart_upload(Bucket="bucket", Key="parts.bin")["UploadId"]
    url = s3.generate_presigned_url(
        "upload_part", Params={"Bucket": "bucket", "Key": "parts.bin", "UploadId": upload, "PartNumber": 1}
    )
    sent = requests.put(url, data=b"part bytes", timeout=10)  # only Content-Length, as the app sends
    assert sent.status_code == 200
    assert sent.headers["ETag"] == f'"{hashlib.md5(b"part bytes").hexdigest()}"'
    assert requests.put(url.replace("partNumber=1", "partNumber=2"), data=b"x", timeout=10).status_code == 403


def test_payload_checks(server: S3Server, s3: Any) -> None:
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as digest:  # botocore retries a BadDigest: once is enough here
        client(server, retries={"max_attempts": 1}).put_object(
            Bucket="bucket", Key="d", Body=b"data", ContentMD5=wrong_md5
        )
    assert code(digest) == "BadDigest"
    # boto3's default checksums send the body aws-chunked with a trailer
    chunked = client(server, request_checksum_calculation="when_supported")
    chunked.put_object(Bucket="bucket", Key="chunked", Body=b"z" * 100_000)
    assert s3.get_object(Bucket="bucket", Key="chunked")["Body"].read() == b"z" * 100_000
    assert not list((server_store_root(server) / "tmp").iterdir())


def server_store_root(server: S3Server) -> Path:
    return server.service.store.root


def test_a_store_reopened_after_a_crash_keeps_what_was_recorded(tmp_path: Path) -> None:
    store = S3Store(tmp_path / "s3")
    store.create_bucket("bucket")
    data = os.urandom(1000)
    blob = store.write_blob(io.BytesIO(data).read, len(data))
    store.put_object("bucket", "kept", blob, {"content-type": "text/plain"})
    upload = store.create_upload("bucket", "open", {})
    store.put_part(upload, 1, store.write_blob(io.BytesIO(b"part").read, 4))
    stray = store.write_blob(io.BytesIO(b"never recorded").read, 14)  # killed before it was recorded
    (store.root / "tmp" / "half-written").write_bytes(b"half")
    store._db.close()  # no clean close, as after kill -9

    again = S3Store(tmp_path / "s3")
    kept = again.head("bucket", "kept")
    assert kept is not None
    assert b"".join(again.read(kept, 0, kept.size - 1)) == data
    assert [p.number for p in again.parts(again.upload("bucket", "open", upload.id), 0, 10)[0]] == [1]
    assert stray.id is not None
    assert not any(path.name == stray.id for path in (again.root / "blobs").rglob("*"))
    assert not list((again.root / "tmp").iterdir())
    again.close()
