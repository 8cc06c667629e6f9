"""The routes after `/initialize`, on moto: presign, finalize, listParts, abortUpload, session, ownership."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from backend.apigw import Caller
from backend.files import Upload
from backend.handlers import (
    abort_upload,
    finalize,
    initialize,
    list_parts,
    presign,
    presign_accelerated,
    session,
)
from backend.runtime import Services
from tests.backend.support import ALICE, BOB, CDN, MIB, UNIT_BUCKET, Reply, seed_body

Call = Callable[..., Reply]


def start(call: Call, key: str = "dir/file.bin", caller: Caller = ALICE) -> dict[str, str]:
    reply = call(initialize.handle, seed_body(key), caller=caller)
    assert reply.status == 200, reply.body
    return {"fileId": reply.body["fileId"], "fileKey": reply.body["fileKey"]}


def put(services: Services, ids: dict[str, str], chunks: list[bytes]) -> list[dict[str, Any]]:
    parts = []
    for number, chunk in enumerate(chunks, 1):
        answer = services.s3.upload_part(
            Bucket=UNIT_BUCKET, Key=ids["fileKey"], UploadId=ids["fileId"], PartNumber=number, Body=chunk
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    return parts


def upload_of(services: Services, upload_id: str) -> Upload:
    upload = services.files.find(upload_id)
    assert upload is not None
    return upload


def test_presign_a_count_of_parts(call: Call, services: Services) -> None:
    ids = start(call)
    reply = call(presign.handle, {**ids, "parts": 3})
    assert reply.status == 200
    assert [p["PartNumber"] for p in reply.body["parts"]] == [1, 2, 3]
    assert reply.body["expiresIn"] == 300
    for part in reply.body["parts"]:
        query = parse_qs(urlsplit(part["signedUrl"]).query)
        assert query["partNumber"] == [str(part["PartNumber"])]
        assert query["uploadId"] == [ids["fileId"]]


def test_presign_chosen_part_numbers(call: Call) -> None:
    ids = start(call)
    reply = call(presign.handle, {**ids, "partNumbers": [7, 3, 9]})
    assert [p["PartNumber"] for p in reply.body["parts"]] == [7, 3, 9]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"partNumbers": list(range(1, 1002))}, "at most 1000 per call"),
        ({"partNumbers": [1, 1]}, "more than once"),
        ({"partNumbers": []}, "non-empty array"),
        ({"partNumbers": [0]}, '"partNumbers[0]" must be from 1 to 10000'),
        ({"parts": 2, "partNumbers": [1]}, "not both"),
        ({}, "say which parts"),
    ],
)
def test_presign_refuses_bad_part_requests(call: Call, extra: dict[str, Any], says: str) -> None:
    reply = call(presign.handle, {**start(call), **extra})
    assert reply.status == 400
    assert says in reply.body["message"]


def test_accelerated_urls_use_the_accelerate_endpoint_on_aws(services: Services, call: Call) -> None:
    ids = start(call)
    plain = call(presign.handle, {**ids, "parts": 1}).body["parts"][0]["signedUrl"]
    fast = call(presign_accelerated.handle, {**ids, "parts": 1}).body["parts"][0]["signedUrl"]
    assert urlsplit(plain).hostname == f"{UNIT_BUCKET}.s3.amazonaws.com"
    assert urlsplit(fast).hostname == f"{UNIT_BUCKET}.s3-accelerate.amazonaws.com"


def test_finalize_completes_and_marks_the_item(call: Call, services: Services) -> None:
    ids = start(call, "dir/my file.bin")
    chunks = [b"a" * 5 * MIB, b"b" * 100]
    reply = call(finalize.handle, {**ids, "parts": put(services, ids, chunks)})
    assert reply.status == 200, reply.body
    assert reply.body == {
        "imagePath": "dir/my file.bin",
        "url": f"{CDN}/dir/my%20file.bin",
        "size": 5 * MIB + 100,
    }
    body = services.s3.get_object(Bucket=UNIT_BUCKET, Key="dir/my file.bin")["Body"].read()
    assert body == b"".join(chunks)
    upload = upload_of(services, ids["fileId"])
    assert upload.state == "finished"
    assert upload.size == 5 * MIB + 100
    assert upload.url == reply.body["url"]
    assert upload.finished_at
    again = call(finalize.handle, {**ids, "parts": [{"PartNumber": 1, "ETag": "x"}]})
    assert again.body == reply.body  # a retried finalize answers as the first one did
    assert call(presign.handle, {**ids, "parts": 1}).status == 409
    assert call(abort_upload.handle, ids).status == 409


def test_finalize_maps_s3_refusals_to_400(call: Call, services: Services) -> None:
    ids = start(call)
    parts = put(services, ids, [b"small", b"parts"])
    too_small = call(finalize.handle, {**ids, "parts": parts})
    assert too_small.status == 400
    assert "5 MiB" in too_small.body["message"]
    ids = start(call, "other.bin")
    put(services, ids, [b"x"])
    wrong = call(finalize.handle, {**ids, "parts": [{"PartNumber": 1, "ETag": '"0000"'}]})
    assert wrong.status == 400
    assert "ETag" in wrong.body["message"]
    assert upload_of(services, ids["fileId"]).state == "uploading"


def test_list_parts_returns_every_part(call: Call, services: Services) -> None:
    ids = start(call)
    parts = put(services, ids, [b"1" * 10, b"2" * 20, b"3" * 30])
    reply = call(list_parts.handle, ids)
    assert reply.body == {"parts": [{**p, "Size": size} for p, size in zip(parts, (10, 20, 30), strict=True)]}


def test_list_parts_follows_s3_pages(call: Call, services: Services) -> None:
    from backend.s3 import list_parts as list_all

    ids = start(call)
    put(services, ids, [b"x"] * 5)
    listed = list_all(services.s3, UNIT_BUCKET, ids["fileKey"], ids["fileId"], page_size=2)
    assert [p.number for p in listed] == [1, 2, 3, 4, 5]


def test_abort_deletes_the_parts_and_is_idempotent(call: Call, services: Services) -> None:
    ids = start(call)
    put(services, ids, [b"x"])
    assert call(abort_upload.handle, ids).body == {}
    assert services.s3.list_multipart_uploads(Bucket=UNIT_BUCKET).get("Uploads", []) == []
    assert upload_of(services, ids["fileId"]).state == "aborted"
    assert call(abort_upload.handle, ids).status == 200
    gone = call(list_parts.handle, ids)
    assert gone.status == 404
    assert "aborted" in gone.body["message"]
    assert call(finalize.handle, {**ids, "parts": [{"PartNumber": 1, "ETag": "x"}]}).status == 404


@pytest.mark.parametrize(
    ("route", "extra"),
    [
        (presign.handle, {"parts": 1}),
        (finalize.handle, {"parts": [{"PartNumber": 1, "ETag": "x"}]}),
        (list_parts.handle, {}),
        (abort_upload.handle, {}),
    ],
)
def test_only_the_starting_principal_may_continue(
    call: Call, services: Services, route: Any, extra: Any
) -> None:
    ids = start(call)
    reply = call(route, {**ids, **extra}, caller=BOB)
    assert reply.status == 403
    assert reply.body["type"] == "ACCESS_DENIED"
    assert upload_of(services, ids["fileId"]).state == "uploading"


def test_file_key_must_match_the_upload(call: Call) -> None:
    ids = start(call)
    reply = call(list_parts.handle, {**ids, "fileKey": "other.bin"})
    assert reply.status == 400
    assert "dir/file.bin" in reply.body["message"]


def test_session_describes_the_caller(call: Call) -> None:
    carol = Caller("carol", "org-9", "carol/")
    assert call(session.handle, raw="", caller=carol).status == 200  # no body is fine here
    reply = call(session.handle, {}, caller=carol)
    assert reply.body == {
        "principal": "carol",
        "organizationId": "org-9",
        "keyPrefix": "carol/",
        "capabilities": [
            "partNumbers",
            "listParts",
            "abortUpload",
            "url",
            "clientToken",
            "batch",
            "singlePut",
            "listUploads",
        ],
        "partsKeptDays": 7,
        "limits": {
            "batchFiles": 100,
            "urlsPerCall": 1000,
            "partsPerBatchFile": 100,
            "partsPerFinalizeBatch": 10000,
            "singlePutMaxSize": 5 * 1024**3,
            "listUploadsLimit": 1000,
            "clientTokenDays": 7,
        },
    }


def test_core_only_answers_have_the_existing_fields(services: Services) -> None:
    from backend.runtime import run_route
    from tests.backend.support import proxy_event

    core = Services(replace(services.config, core_only=True))

    def run(route: Any, body: Any, caller: Caller | None) -> dict[str, Any]:
        answer = run_route(route, proxy_event(body, caller), core)
        assert answer["statusCode"] == 200, answer["body"]
        return json.loads(answer["body"])

    ids = run(initialize.handle, seed_body("core.bin"), ALICE)
    signed = run(presign.handle, {**ids, "parts": 1, "partNumbers": [5]}, None)  # partNumbers is ignored
    assert set(signed) == {"parts"}
    assert signed["parts"][0]["PartNumber"] == 1
    parts = put(services, ids, [b"z"])
    assert run(finalize.handle, {**ids, "parts": parts}, None) == {"imagePath": "core.bin"}
