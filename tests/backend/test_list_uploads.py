"""`/listUploads`: the caller's own uploads, newest first, filtered by state, paged by an opaque cursor."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from backend.apigw import Caller
from backend.handlers import abort_upload, list_uploads
from backend.runtime import Services
from tests.backend.routes_support import (
    Call,
    batch_file,
    finish,
    finish_batch,
    ids_of,
    put_parts,
    put_single,
    start,
    start_batch,
)
from tests.backend.support import ALICE, BOB, CDN


def listing(call: Call, caller: Caller = ALICE, **body: Any) -> dict[str, Any]:
    reply = call(list_uploads.handle, body, caller=caller)
    assert reply.status == 200, reply.body
    return reply.body


def keys(page: dict[str, Any]) -> list[str]:
    return [u["fileKey"] for u in page["uploads"]]


@pytest.fixture
def history(call: Call, services: Services) -> dict[str, dict[str, str]]:
    """Alice's uploads l/0 … l/6 (l/2 finished as a single PUT, l/4 aborted), and others' uploads."""
    started = {}
    for n in range(7):
        entry = batch_file(f"l/{n}.bin", single=True, fileSize=2) if n == 2 else batch_file(f"l/{n}.bin")
        (answer,) = start_batch(call, entry)
        started[f"l/{n}.bin"] = ids_of(answer)
        if n == 2:
            assert put_single(answer, b"hi").status_code == 200
            finish_batch(call, ids_of(answer))
    assert call(abort_upload.handle, started["l/4.bin"]).status == 200
    start(call, "bob/x.bin", caller=BOB)
    start(call, "other-org/x.bin", caller=Caller("alice", "org-8"))
    return started


def test_own_uploads_newest_first_with_their_details(call: Call, history: dict[str, dict[str, str]]) -> None:
    page = listing(call)
    assert keys(page) == [f"l/{n}.bin" for n in range(6, -1, -1)]
    assert page["cursor"] is None
    by_key = {u["fileKey"]: u for u in page["uploads"]}
    finished = by_key["l/2.bin"]
    assert finished == {
        "fileId": history["l/2.bin"]["fileId"],
        "fileKey": "l/2.bin",
        "fileNumber": 3,
        "state": "finished",
        "createdAt": finished["createdAt"],
        "updatedAt": finished["updatedAt"],
        "fileSize": 2,
        "contentType": "application/octet-stream",
        "single": True,
        "size": 2,
        "url": f"{CDN}/l/2.bin",
    }
    uploading = by_key["l/6.bin"]
    assert (uploading["state"], uploading["single"], uploading["fileSize"]) == ("uploading", False, None)
    assert uploading["partsExpireAt"].endswith("T00:00:00Z")
    assert by_key["l/4.bin"]["state"] == "aborted"


def test_filter_by_state(call: Call, history: dict[str, dict[str, str]]) -> None:
    assert keys(listing(call, state="finished")) == ["l/2.bin"]
    assert keys(listing(call, state="aborted")) == ["l/4.bin"]
    assert keys(listing(call, state="uploading")) == ["l/6.bin", "l/5.bin", "l/3.bin", "l/1.bin", "l/0.bin"]
    assert keys(listing(call, state="all", limit=1)) == ["l/6.bin"]


def test_pages_follow_the_cursor_to_the_end(call: Call, history: dict[str, dict[str, str]]) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        page = listing(call, limit=3, cursor=cursor)
        seen += keys(page)
        pages += 1
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == [f"l/{n}.bin" for n in range(6, -1, -1)]
    assert pages == 3
    first = listing(call, state="uploading", limit=2)
    second = listing(call, state="uploading", limit=2, cursor=first["cursor"])
    assert keys(first) + keys(second) == ["l/6.bin", "l/5.bin", "l/3.bin", "l/1.bin"]


def test_only_the_callers_principal_and_organisation(call: Call, history: dict[str, dict[str, str]]) -> None:
    assert keys(listing(call, caller=BOB)) == ["bob/x.bin"]
    assert keys(listing(call, caller=Caller("alice", "org-8"))) == ["other-org/x.bin"]
    assert keys(listing(call, caller=Caller("carol", "org-7"))) == []


def test_only_uploads_inside_the_token_folder(call: Call, services: Services) -> None:
    start(call, "team/a.bin")
    start(call, "teammates/b.bin")
    start(call, "team/c.bin")
    scoped = Caller("alice", "org-7", "team")
    assert keys(listing(call, caller=scoped)) == ["team/c.bin", "team/a.bin"]
    first = listing(call, caller=scoped, limit=1)
    assert keys(listing(call, caller=scoped, limit=1, cursor=first["cursor"])) == ["team/a.bin"]


def forged(**fields: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "",
        "x" * 600,
        7,
        forged(o="x", s="all"),
        forged(o="x", s="all", b="7"),
        forged(o="x", s="all", b=0),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_bad_cursor_is_400(call: Call, history: dict[str, dict[str, str]], cursor: Any) -> None:
    reply = call(list_uploads.handle, {"cursor": cursor})
    assert reply.status == 400
    assert "cursor" in reply.body["message"]


def test_a_foreign_cursor_is_400(call: Call, history: dict[str, dict[str, str]]) -> None:
    cursor = listing(call, limit=2)["cursor"]
    for caller in (BOB, Caller("alice", "org-8"), Caller("alice", "org-7", "l/")):
        reply = call(list_uploads.handle, {"cursor": cursor, "limit": 2}, caller=caller)
        assert reply.status == 400
        assert "another caller" in reply.body["message"]
    other_state = call(list_uploads.handle, {"cursor": cursor, "state": "finished"})
    assert other_state.status == 400
    assert 'state "all"' in other_state.body["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"state": "done"}, '"state" must be'),
        ({"limit": 0}, '"limit" must be from 1 to 1000'),
        ({"limit": 1001}, '"limit" must be from 1 to 1000'),
        ({"limit": "5"}, '"limit" must be a whole number'),
    ],
)
def test_bad_fields_are_400(call: Call, body: dict[str, Any], says: str) -> None:
    reply = call(list_uploads.handle, body)
    assert reply.status == 400
    assert says in reply.body["message"]


def test_no_body_lists_everything(call: Call, services: Services) -> None:
    start(call, "nobody/a.bin")
    reply = call(list_uploads.handle, raw="")
    assert reply.status == 200
    assert keys(reply.body) == ["nobody/a.bin"]


def test_a_multipart_upload_listed_after_it_finished(call: Call, services: Services) -> None:
    ids = start(call, "fin/a.bin")
    assert finish(call, ids, put_parts(services, ids, [b"abc"])).status == 200
    (entry,) = listing(call, state="finished")["uploads"]
    assert (entry["fileId"], entry["size"], entry["url"]) == (ids["fileId"], 3, f"{CDN}/fin/a.bin")
