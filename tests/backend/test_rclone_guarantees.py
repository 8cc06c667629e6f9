"""The promises on an S3 server that ignores conditional writes: `rclone serve s3` (it checks SigV4).

rclone does not honour `If-None-Match: *` (a conditional PutObject or CompleteMultipartUpload onto
an existing key succeeds there), so on it the publication record in the table store is what keeps
"no overwrite" and "only your organisation overwrites". The signed headers of a single PUT (its
size above all) are enforced by rclone's signature check, as by AWS.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from backend.apigw import Caller
from backend.config import Config
from backend.handlers import finalize, finalize_batch, initialize, initialize_batch, presign
from backend.runtime import Route, Services, new_session, run_route
from tests.backend.routes_support import batch_file, ids_of
from tests.backend.support import RcloneS3, Reply, proxy_event, seed_body

A = Caller("uploader-a", "org-a")
B = Caller("uploader-b", "org-b")


@pytest.fixture
def rclone_services(rclone_s3: RcloneS3, tmp_path: Path) -> Iterator[Services]:
    """The handlers' services on rclone's S3 (a fresh bucket) and a SQLite table store."""
    bucket = f"guarantees-{secrets.token_hex(4)}"
    key_id, secret = rclone_s3.credentials
    config = Config(
        bucket=bucket,
        region="us-east-1",
        s3_endpoint_url=rclone_s3.endpoint,
        table_store=str(tmp_path / "tables.sqlite3"),
        cdn_base_url="http://cdn.test",
    )
    services = Services(
        config,
        s3_session=new_session(
            region_name="us-east-1", aws_access_key_id=key_id, aws_secret_access_key=secret
        ),
    )
    services.s3.create_bucket(Bucket=bucket)
    yield services
    services.close()


def run(services: Services, route: Route, body: Any, caller: Caller) -> Reply:
    answer = run_route(route, proxy_event(body, caller), services)
    return Reply(answer["statusCode"], json.loads(answer["body"]))


def send(
    services: Services, key: str, data: bytes, caller: Caller, **extra: Any
) -> tuple[dict[str, str], list[Any]]:
    """Start a multipart upload and PUT its one part through a presigned URL; (ids, parts)."""
    started = run(services, initialize.handle, seed_body(key, **extra), caller)
    assert started.status == 200, started.body
    ids = {"fileId": started.body["fileId"], "fileKey": key}
    (url,) = run(services, presign.handle, {**ids, "parts": 1}, caller).body["parts"]
    answer = requests.put(url["signedUrl"], data=data, timeout=30)
    assert answer.status_code == 200, answer.text
    return ids, [{"PartNumber": 1, "ETag": answer.headers["ETag"]}]


def content(services: Services, key: str) -> bytes:
    return bytes(services.s3.get_object(Bucket=services.bucket, Key=key)["Body"].read())


def test_rclone_ignores_if_none_match(rclone_services: Services) -> None:
    s3, bucket = rclone_services.s3, rclone_services.bucket
    s3.put_object(Bucket=bucket, Key="plain", Body=b"one")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"two", IfNoneMatch="*")  # AWS and moto: 412
    assert content(rclone_services, "plain") == b"two"


def test_no_overwrite_holds_at_the_end_without_s3s_help(rclone_services: Services) -> None:
    late_ids, late_parts = send(rclone_services, "race/one.bin", b"from b", B)
    ids, parts = send(rclone_services, "race/one.bin", b"from a", A)
    assert run(rclone_services, finalize.handle, {**ids, "parts": parts}, A).status == 200
    refused = run(rclone_services, finalize.handle, {**late_ids, "parts": late_parts}, B)
    assert (refused.status, refused.body["reason"]) == (409, "KEY_EXISTS")
    assert content(rclone_services, "race/one.bin") == b"from a"


def test_another_organisations_overwrite_is_403_at_the_end(rclone_services: Services) -> None:
    late_ids, late_parts = send(rclone_services, "shared/report.pdf", b"from b", B, overwrite=True)
    ids, parts = send(rclone_services, "shared/report.pdf", b"from a", A)
    assert run(rclone_services, finalize.handle, {**ids, "parts": parts}, A).status == 200
    refused = run(rclone_services, finalize.handle, {**late_ids, "parts": late_parts}, B)
    assert refused.status == 403
    assert content(rclone_services, "shared/report.pdf") == b"from a"


def test_a_single_put_must_send_exactly_its_signed_size_and_headers(rclone_services: Services) -> None:
    reply = run(
        rclone_services,
        initialize_batch.handle,
        {"files": [batch_file("one/page.html", single=True, fileSize=5)]},
        A,
    )
    (entry,) = reply.body["files"]
    headers = entry["headers"]
    assert headers["Content-Disposition"] == "attachment"
    too_long = requests.put(
        entry["putUrl"], data=b"123456", headers={**headers, "Content-Length": "6"}, timeout=30
    )
    assert too_long.status_code == 403
    unsigned = {k: v for k, v in headers.items() if k != "x-amz-meta-s3up-file"}
    assert requests.put(entry["putUrl"], data=b"12345", headers=unsigned, timeout=30).status_code == 403
    assert requests.put(entry["putUrl"], data=b"12345", headers=headers, timeout=30).status_code == 200
    (done,) = run(rclone_services, finalize_batch.handle, {"files": [ids_of(entry)]}, A).body["files"]
    assert (done["size"], done["url"]) == (5, "http://cdn.test/one/page.html")
    head = rclone_services.s3.head_object(Bucket=rclone_services.bucket, Key="one/page.html")
    assert (head["ContentType"], head["ContentDisposition"]) == ("text/html", "attachment")


def test_a_single_put_cannot_start_on_a_published_key(rclone_services: Services) -> None:
    ids, parts = send(rclone_services, "taken/x.txt", b"from a", A)
    assert run(rclone_services, finalize.handle, {**ids, "parts": parts}, A).status == 200
    files = [
        batch_file("taken/x.txt", single=True, fileSize=1),
        batch_file("taken/x.txt", single=True, fileSize=1, overwrite=True),
    ]
    refused = run(rclone_services, initialize_batch.handle, {"files": files}, B).body["files"]
    assert [(e["error"]["statusCode"], e["error"].get("reason")) for e in refused] == [
        ("409", "KEY_EXISTS"),
        ("403", None),
    ]
