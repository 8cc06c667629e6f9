"""Table-driven: every bad request gets a 4xx JSON answer that says what is wrong, and changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from backend.local import LocalStack
from tests.backend.support import seed_body, stored_uploads


@dataclass(frozen=True)
class World:
    """An unfinished upload of the stack's principal with one part, plus tokens of every kind."""

    ids: dict[str, str]
    etag: str
    tokens: dict[str, str | None]


@pytest.fixture(scope="module")
def world(stack: LocalStack) -> World:
    headers = {"Authorization": stack.token}
    with requests.Session() as http:
        started = http.post(
            f"{stack.api_url}/initialize", json=seed_body("base/file.bin"), headers=headers
        ).json()
        ids = {"fileId": started["fileId"], "fileKey": started["fileKey"]}
        signed = http.post(
            f"{stack.api_url}/getPreSignedUrls", json={**ids, "parts": 1}, headers=headers
        ).json()
        etag = http.put(signed["parts"][0]["signedUrl"], data=b"part one").headers["ETag"]
    stack.s3.put_object(Bucket=stack.bucket, Key="exists/taken.jpg", Body=b"already here")
    revoked = stack.issue_token("local-user", "local-org")
    stack.revoke_token(revoked)
    tokens = {
        "mine": stack.token,
        "none": None,
        "unknown": "s3up_this-token-was-never-issued-anywhere",
        "expired": stack.issue_token("local-user", "local-org", expires_at=time.time() - 1),
        "revoked": revoked,
        "bearer-only": "Bearer ",
        "bob": stack.issue_token("bob", "org-2"),
        "carol": stack.issue_token("carol", "org-9", key_prefix="carol/"),
    }
    return World(ids, etag, tokens)


Body = Callable[[World], Any]


def with_ids(**extra: Any) -> Body:
    return lambda w: {**w.ids, **extra}


def init(key: Any, **extra: Any) -> Body:
    return lambda w: seed_body(key, **extra)


def parts(*numbers: int, etag: str | None = None) -> Body:
    return lambda w: {**w.ids, "parts": [{"PartNumber": n, "ETag": etag or w.etag} for n in numbers]}


# (route, body: a Body, or raw text, token kind, expected status, what the message must say)
CASES: dict[str, tuple[str, Body | str, str, int, str]] = {
    "not JSON": ("/initialize", "{plugin: upload-s3", "mine", 400, "not valid JSON"),
    "JSON array": ("/initialize", '[{"plugin": "upload-s3"}]', "mine", 400, "not an array"),
    "JSON string": ("/getPreSignedUrls", '"parts"', "mine", 400, "must be a JSON object"),
    "no body": ("/finalize", "", "mine", 400, "no body"),
    "pluginPayload missing": (
        "/initialize",
        lambda w: {"plugin": "upload-s3"},
        "mine",
        400,
        '"pluginPayload" is missing',
    ),
    "pluginPayload a string": (
        "/initialize",
        lambda w: {"pluginPayload": "x"},
        "mine",
        400,
        "must be a JSON object",
    ),
    "imageKey missing": (
        "/initialize",
        lambda w: {"pluginPayload": {}},
        "mine",
        400,
        '"pluginPayload.imageKey" is missing',
    ),
    "imageKey a number": ("/initialize", init(42), "mine", 400, "must be a string"),
    "path traversal": ("/initialize", init("a/../../etc/passwd"), "mine", 400, '".." path segment'),
    "leading slash": ("/initialize", init("/etc/passwd"), "mine", 400, 'starts with "/"'),
    "backslash": ("/initialize", init("a\\b.jpg"), "mine", 400, "backslash"),
    "control character": ("/initialize", init("a\nb.jpg"), "mine", 400, "control character"),
    "lone surrogate in key": (
        "/initialize",
        '{"pluginPayload": {"imageKey": "a\\udc00.jpg"}}',
        "mine",
        400,
        "unpaired surrogate",
    ),
    "key too long": ("/initialize", init("k" * 1025), "mine", 400, "1024"),
    "outside token prefix": (
        "/initialize",
        init("dave/x.jpg"),
        "carol",
        403,
        'must be inside the folder "carol/"',
    ),
    "non-ASCII contentType": (
        "/initialize",
        init("a.jpg", contentType="imagé/jpeg"),
        "mine",
        400,
        "media type",
    ),
    "bad contentType": ("/initialize", init("a.jpg", contentType="jpeg please"), "mine", 400, "media type"),
    "negative fileSize": (
        "/initialize",
        init("a.jpg", fileSize=-1),
        "mine",
        400,
        '"fileSize" must be from 0',
    ),
    "overwrite not boolean": ("/initialize", init("a.jpg", overwrite="yes"), "mine", 400, "true or false"),
    "100 KB of metadata": ("/initialize", init("a.jpg", notes="m" * 100_000), "mine", 413, "at most 65536"),
    "1 MB body, refused unparsed": (
        "/initialize",
        init("a.jpg", notes="m" * 1024 * 1024),
        "mine",
        413,
        "this route takes at most 1048576",
    ),
    "object exists": ("/initialize", init("exists/taken.jpg"), "mine", 409, '"overwrite": true'),
    "parts 0": (
        "/getPreSignedUrls",
        with_ids(parts=0),
        "mine",
        400,
        '"parts" must be from 1 to 10000, not 0',
    ),
    "parts -1": ("/getPreSignedUrls", with_ids(parts=-1), "mine", 400, "not -1"),
    "parts 10001": ("/getPreSignedUrls", with_ids(parts=10001), "mine", 400, "not 10001"),
    'parts "3"': ("/getPreSignedUrls", with_ids(parts="3"), "mine", 400, 'not the string "3"'),
    "parts true": ("/getPreSignedUrls", with_ids(parts=True), "mine", 400, "not true"),
    "parts 2.5": ("/getPreSignedUrls", with_ids(parts=2.5), "mine", 400, "whole number"),
    "partNumbers too many": (
        "/getPreSignedUrls",
        with_ids(partNumbers=list(range(1, 1002))),
        "mine",
        400,
        "at most 1000",
    ),
    "fileId missing": (
        "/getPreSignedUrls",
        lambda w: {"fileKey": "x", "parts": 1},
        "mine",
        400,
        '"fileId" is missing',
    ),
    "fileId too long": (
        "/listParts",
        lambda w: {"fileId": "é" * 300, "fileKey": "x"},
        "mine",
        400,
        "longer than",
    ),
    "fileId a number": (
        "/listParts",
        lambda w: {"fileId": 7, "fileKey": "x"},
        "mine",
        400,
        '"fileId" must be a string',
    ),
    "unknown fileId": (
        "/listParts",
        lambda w: {"fileId": "nope", "fileKey": "x"},
        "mine",
        404,
        "no upload with fileId",
    ),
    "fileKey not matching": (
        "/listParts",
        with_ids(fileKey="base/other.bin"),
        "mine",
        400,
        '"fileKey" does not match',
    ),
    "another principal presigns": (
        "/getPreSignedUrls",
        with_ids(parts=1),
        "bob",
        403,
        "started by someone else",
    ),
    "another principal finalizes": ("/finalize", parts(1), "bob", 403, "started by someone else"),
    "another principal aborts": ("/abortUpload", with_ids(), "bob", 403, "started by someone else"),
    "finalize parts empty": ("/finalize", with_ids(parts=[]), "mine", 400, "non-empty array"),
    "finalize parts missing": ("/finalize", with_ids(), "mine", 400, '"parts" is missing'),
    "finalize gap": ("/finalize", parts(1, 3), "mine", 400, "part 2 is missing"),
    "finalize duplicate": ("/finalize", parts(1, 1), "mine", 400, "part 1 is listed twice"),
    "finalize out of order": ("/finalize", parts(2, 1), "mine", 400, "part 1 is missing"),
    "finalize PartNumber string": (
        "/finalize",
        with_ids(parts=[{"PartNumber": "1", "ETag": "x"}]),
        "mine",
        400,
        '"parts[0].PartNumber" must be a whole number',
    ),
    "finalize ETag missing": (
        "/finalize",
        with_ids(parts=[{"PartNumber": 1}]),
        "mine",
        400,
        '"parts[0].ETag"',
    ),
    "finalize wrong ETag": (
        "/finalize",
        parts(1, etag='"00000000000000000000000000000000"'),
        "mine",
        400,
        "ETag",
    ),
    "missing token": ("/session", lambda w: {}, "none", 401, "Unauthorized"),
    "unknown token": ("/initialize", init("u.jpg"), "unknown", 401, "Unauthorized"),
    "expired token": ("/initialize", init("e.jpg"), "expired", 401, "Unauthorized"),
    "revoked token": ("/getPreSignedUrls", with_ids(parts=1), "revoked", 401, "Unauthorized"),
    "Bearer without a token": ("/session", lambda w: {}, "bearer-only", 401, "Unauthorized"),
    "unknown route": ("/deleteEverything", lambda w: {}, "none", 403, "Missing Authentication Token"),
    "unknown route with a token": ("/deleteEverything", lambda w: {}, "mine", 403, "Invalid key=value pair"),
}


def snapshot(stack: LocalStack, world: World) -> dict[str, Any]:
    """Everything a request could change: objects, table items, uploads and the base upload's parts."""
    objects = stack.s3.list_objects_v2(Bucket=stack.bucket).get("Contents", [])
    uploads = stack.s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", [])
    listed = stack.s3.list_parts(Bucket=stack.bucket, Key=world.ids["fileKey"], UploadId=world.ids["fileId"])
    items = [repr(upload) for upload in stored_uploads(stack.services).values()]
    return {
        "objects": sorted((o["Key"], o["ETag"]) for o in objects),
        "uploads": sorted(u["UploadId"] for u in uploads),
        "parts": [(p["PartNumber"], p["ETag"]) for p in listed.get("Parts", [])],
        "items": sorted(items),
    }


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_there_are_at_least_25_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_request(stack: LocalStack, world: World, http: requests.Session, case: str) -> None:
    route, body, token_kind, status, says = CASES[case]
    token = world.tokens[token_kind]
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = token
    data = body if isinstance(body, str) else json.dumps(body(world))
    before = snapshot(stack, world)
    answer = http.post(f"{stack.api_url}{route}", data=data.encode(), headers=headers, timeout=30)
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    reply = answer.json()
    assert says in reply["message"]
    if route != "/deleteEverything":
        assert reply["statusCode"] == str(status)
        assert reply["type"]
    assert snapshot(stack, world) == before
