"""`/initialize` on moto: the Files record, the multipart upload, Content-Type, 409, prefixes, limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from backend.apigw import Caller
from backend.handlers import initialize
from backend.runtime import Services, run_route
from tests.backend.support import ALICE, UNIT_BUCKET, Reply, proxy_event, seed_body, stored_uploads


def items(services: Services) -> dict[str, dict[str, Any]]:
    scan = services.dynamodb.scan(TableName=services.config.files_table, ConsistentRead=True)["Items"]
    return {item["pk"]["S"]: item for item in scan}


@pytest.mark.parametrize("store_kind", ["dynamodb"], indirect=True)
def test_records_the_request_in_the_files_table_layout(
    call: Callable[..., Reply], services: Services
) -> None:
    body = seed_body("image/path.jpg", fileSize=123)
    reply = call(initialize.handle, body)
    assert reply.status == 200
    assert reply.body["fileKey"] == "image/path.jpg"
    assert reply.body["maxParts"] == 10000
    assert reply.body["minPartSize"] == 5 * 1024 * 1024
    upload_id = reply.body["fileId"]
    stored = items(services)
    assert stored["filecounter"]["count"]["N"] == "1"
    item, pointer = stored["1"], stored[f"upload#{upload_id}"]
    assert json.loads(item["request"]["S"]) == body
    assert item["uploadId"]["S"] == upload_id
    assert item["fileKey"]["S"] == "image/path.jpg"
    assert (item["principal"]["S"], item["organizationId"]["S"]) == ("alice", "org-7")
    assert (item["state"]["S"], item["contentType"]["S"], item["fileSize"]["N"]) == (
        "uploading",
        "image/jpeg",
        "123",
    )
    assert item["createdAt"]["S"].endswith("Z")
    assert pointer["fileNumber"]["N"] == "1"
    assert pointer["principal"]["S"] == "alice"
    uploads = services.s3.list_multipart_uploads(Bucket=UNIT_BUCKET)["Uploads"]
    assert [(u["UploadId"], u["Key"]) for u in uploads] == [(upload_id, "image/path.jpg")]


def test_records_the_upload_and_starts_it(call: Callable[..., Reply], services: Services) -> None:
    reply = call(initialize.handle, seed_body("image/path.jpg", fileSize=123))
    assert reply.status == 200
    upload = services.files.find(reply.body["fileId"])
    assert upload is not None
    assert (upload.file_key, upload.principal, upload.organization_id) == ("image/path.jpg", "alice", "org-7")
    assert (upload.state, upload.content_type, upload.file_size) == ("uploading", "image/jpeg", 123)
    assert upload.created_at.endswith("Z")
    uploads = services.s3.list_multipart_uploads(Bucket=UNIT_BUCKET)["Uploads"]
    assert [(u["UploadId"], u["Key"]) for u in uploads] == [(upload.upload_id, "image/path.jpg")]


def test_numbers_uploads_with_the_counter(call: Callable[..., Reply], services: Services) -> None:
    for key in ("a.bin", "b.bin", "c.bin"):
        assert call(initialize.handle, seed_body(key)).status == 200
    assert sorted(u.file_number for u in stored_uploads(services).values()) == [1, 2, 3]


def test_content_type_from_request_at_either_level(call: Callable[..., Reply], services: Services) -> None:
    top = call(initialize.handle, seed_body("x.bin", contentType="video/mp4"))
    inner = seed_body("y.bin")
    inner["pluginPayload"]["contentType"] = "text/csv"
    nested = call(initialize.handle, inner)
    by_key = {u.file_key: u.content_type for u in stored_uploads(services).values()}
    assert (top.status, nested.status) == (200, 200)
    assert by_key == {"x.bin": "video/mp4", "y.bin": "text/csv"}


def test_existing_object_is_409_unless_overwrite(call: Callable[..., Reply], services: Services) -> None:
    services.s3.put_object(Bucket=UNIT_BUCKET, Key="taken.jpg", Body=b"old")
    refused = call(initialize.handle, seed_body("taken.jpg"))
    assert refused.status == 409
    assert refused.body["type"] == "CONFLICT"
    assert "overwrite" in refused.body["message"]
    assert stored_uploads(services) == {}
    assert call(initialize.handle, seed_body("taken.jpg", overwrite=True)).status == 200


def test_token_prefix_is_enforced(call: Callable[..., Reply]) -> None:
    scoped = Caller("carol", "org-9", "carol/")
    assert call(initialize.handle, seed_body("carol/ok.jpg"), caller=scoped).status == 200
    refused = call(initialize.handle, seed_body("dave/no.jpg"), caller=scoped)
    assert refused.status == 403
    assert refused.body["type"] == "ACCESS_DENIED"
    assert "carol/" in refused.body["message"]


def test_metadata_is_bounded(call: Callable[..., Reply], services: Services) -> None:
    body = seed_body("big.jpg")
    body["pluginPayload"]["notes"] = "x" * 70_000
    reply = call(initialize.handle, body)
    assert reply.status == 413
    assert reply.body["type"] == "REQUEST_TOO_LARGE"
    assert "65536" in reply.body["message"]
    assert stored_uploads(services) == {}


def test_no_authorizer_context_is_401(call: Callable[..., Reply]) -> None:
    reply = call(initialize.handle, seed_body("a.jpg"), caller=None)
    assert reply.status == 401
    assert reply.body["type"] == "UNAUTHORIZED"


def test_core_only_answers_the_existing_fields_and_overwrites(services: Services) -> None:
    services.s3.put_object(Bucket=UNIT_BUCKET, Key="taken.jpg", Body=b"old")
    core = Services(replace(services.config, core_only=True))
    answer = run_route(initialize.handle, proxy_event(seed_body("taken.jpg"), ALICE), core)
    assert answer["statusCode"] == 200
    assert set(json.loads(answer["body"])) == {"fileId", "fileKey"}


def test_lambda_entry_reads_the_environment(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUCKET_NAME", UNIT_BUCKET)
    monkeypatch.setenv("FILES_TABLE", services.config.files_table)
    monkeypatch.setenv("TABLE_STORE", services.config.table_store)
    monkeypatch.setenv("MAX_METADATA_BYTES", "200")
    small = initialize.handler(proxy_event(seed_body("env.jpg"), ALICE), None)
    assert small["statusCode"] == 200, small["body"]
    body = seed_body("env2.jpg")
    body["pluginPayload"]["notes"] = "y" * 300
    assert initialize.handler(proxy_event(body, ALICE), None)["statusCode"] == 413
