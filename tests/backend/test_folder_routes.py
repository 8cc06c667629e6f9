"""The folder routes, in-process on moto's S3 with either table store: /initializeBatch, /finalizeBatch,
clientToken idempotency (also on /initialize), their limits and per-file errors."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from backend.apigw import Caller
from backend.handlers import abort_upload, finalize, finalize_batch, initialize, initialize_batch, presign
from backend.runtime import Services
from tests.backend.routes_support import (
    Call,
    batch_file,
    client_token,
    finish_batch,
    ids_of,
    multipart_uploads,
    put_parts,
    put_single,
    start_batch,
    stored,
)
from tests.backend.support import BOB, CDN, MIB, UNIT_BUCKET, seed_body


def test_a_batch_answers_each_file_in_order_with_its_own_error(call: Call, services: Services) -> None:
    tokens = [client_token() for _ in range(4)]
    entries = start_batch(
        call,
        batch_file("f/one.txt", tokens[0], single=True, fileSize=3),
        batch_file("f/two.bin", tokens[1], parts=2, fileSize=6 * MIB),
        batch_file("f/../bad.txt", tokens[2], single=True, fileSize=1),
        batch_file("f/four.bin", tokens[3]),
    )
    assert [e["clientToken"] for e in entries] == tokens
    single, multipart, bad, plain = entries
    assert set(single) == {"clientToken", "fileId", "fileKey", "expiresIn", "putUrl", "headers"}
    assert single["fileId"].startswith("single-")
    assert single["headers"]["Content-Type"] == "text/plain"
    assert single["headers"]["Content-Length"] == "3"
    assert set(multipart) == {"clientToken", "fileId", "fileKey", "expiresIn", "parts", "partsExpireAt"}
    assert [p["PartNumber"] for p in multipart["parts"]] == [1, 2]
    query = parse_qs(urlsplit(multipart["parts"][0]["signedUrl"]).query)
    assert query["uploadId"] == [multipart["fileId"]]
    assert bad == {
        "clientToken": tokens[2],
        "error": {
            "message": '"pluginPayload.imageKey" contains a "." or ".." path segment',
            "statusCode": "400",
            "type": "BAD_REQUEST",
        },
    }
    assert plain["parts"] == []
    assert multipart_uploads(services) == sorted(
        [("f/two.bin", multipart["fileId"]), ("f/four.bin", plain["fileId"])]
    )


def test_a_single_file_is_put_then_finished_with_its_link(call: Call, services: Services) -> None:
    (entry,) = start_batch(call, batch_file("site/index.html", single=True, fileSize=11))
    assert put_single(entry, b"<b>hi</b>!!").status_code == 200
    (done,) = finish_batch(call, ids_of(entry))
    assert done == {
        "fileId": entry["fileId"],
        "imagePath": "site/index.html",
        "url": f"{CDN}/site/index.html",
        "size": 11,
        "etag": done["etag"],
    }
    head = services.s3.head_object(Bucket=UNIT_BUCKET, Key="site/index.html")
    assert (head["ContentType"], head["ContentDisposition"]) == ("text/html", "attachment")
    assert finish_batch(call, ids_of(entry)) == [done]  # idempotent
    assert call(finalize.handle, ids_of(entry)).body == {k: done[k] for k in ("imagePath", "url", "size")}


def test_multipart_files_finish_in_a_batch_next_to_refusals(call: Call, services: Services) -> None:
    first, second = start_batch(
        call, batch_file("m/a.bin", parts=1, fileSize=5), batch_file("m/b.bin", parts=1, fileSize=4)
    )
    parts_a = put_parts(services, ids_of(first), [b"aaaaa"])
    parts_b = put_parts(services, ids_of(second), [b"bbbb"])
    bob_entry = start_batch(call, batch_file("m/bob.bin"), caller=BOB)[0]
    done = finish_batch(
        call,
        {**ids_of(first), "parts": parts_a},
        {"fileId": "no-such-upload", "fileKey": "m/x.bin"},
        {**ids_of(bob_entry), "parts": parts_a},
        {**ids_of(second), "fileKey": "m/other.bin", "parts": parts_b},
        {**ids_of(second)},
        "not an object",
        {**ids_of(second), "parts": parts_b},
    )
    assert done[0]["size"] == 5
    assert [d.get("error", {}).get("statusCode") for d in done] == [
        None,
        "404",
        "403",
        "400",
        "400",
        "400",
        None,
    ]
    assert done[1]["fileId"] == "no-such-upload"
    assert done[5]["fileId"] is None
    assert "parts" in done[4]["error"]["message"]
    assert stored(services, "m/a.bin") == b"aaaaa"
    assert stored(services, "m/b.bin") == b"bbbb"


def test_a_batch_signs_at_most_1000_urls_single_files_first(call: Call) -> None:
    files = [batch_file(f"many/{n}.bin", parts=100, fileSize=600 * MIB) for n in range(12)]
    files.insert(5, batch_file("many/single.txt", single=True, fileSize=1))
    entries = start_batch(call, *files)
    signed = [len(e["parts"]) for e in entries if "parts" in e]
    assert signed == [100] * 9 + [99, 0, 0]
    assert "putUrl" in entries[5]
    assert sum(signed) + 1 == 1000
    # the rest is asked for later, a page at a time
    later = call(presign.handle, {**ids_of(entries[-1]), "partNumbers": list(range(1, 101))})
    assert len(later.body["parts"]) == 100


def test_the_same_client_token_answers_the_same_upload_even_after_a_lost_answer(
    call: Call, services: Services
) -> None:
    files = [
        batch_file("idem/a.bin", parts=1),
        batch_file("idem/b.txt", single=True, fileSize=2),
        batch_file("idem/c.bin", fileSize=10),
    ]
    first = start_batch(call, *files)  # the client never saw this answer
    again = start_batch(call, *files)
    assert [e["fileId"] for e in again] == [e["fileId"] for e in first]
    assert [e["clientToken"] for e in again] == [f["clientToken"] for f in files]
    assert len(multipart_uploads(services)) == 2  # no second multipart upload
    assert put_single(again[1], b"ok").status_code == 200  # the URL signed again works
    reply = call(initialize.handle, seed_body("idem/c.bin", fileSize=10, clientToken=files[2]["clientToken"]))
    assert reply.body["fileId"] == first[2]["fileId"]


def test_the_same_client_token_for_another_file_is_409(call: Call) -> None:
    token = client_token()
    (first,) = start_batch(call, batch_file("c/a.bin", token, fileSize=10))
    for other in (
        batch_file("c/b.bin", token, fileSize=10),
        batch_file("c/a.bin", token, fileSize=11),
        batch_file("c/a.bin", token, single=True, fileSize=10),
    ):
        (refused,) = start_batch(call, other)
        assert refused["error"]["statusCode"] == "409"
        assert refused["error"]["reason"] == "CLIENT_TOKEN_REUSED"
        assert first["fileId"] in refused["error"]["message"]
    reply = call(initialize.handle, seed_body("c/z.bin", clientToken=token))
    assert (reply.status, reply.body["reason"]) == (409, "CLIENT_TOKEN_REUSED")


def test_a_client_token_is_per_principal_and_organisation(call: Call) -> None:
    token = client_token()
    (mine,) = start_batch(call, batch_file("p/a.bin", token))
    (bobs,) = start_batch(call, batch_file("p/a.bin", token), caller=BOB)
    (other_org,) = start_batch(call, batch_file("p/a.bin", token), caller=Caller("alice", "org-8"))
    assert len({mine["fileId"], bobs["fileId"], other_org["fileId"]}) == 3


def test_one_batch_with_a_token_twice_starts_one_upload(call: Call, services: Services) -> None:
    token = client_token()
    first, second = start_batch(call, batch_file("twice/a.bin", token), batch_file("twice/a.bin", token))
    assert first["fileId"] == second["fileId"]
    assert len(multipart_uploads(services)) == 1


def test_a_start_that_loses_the_race_for_its_client_token_undoes_its_upload(
    call: Call, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = client_token()
    (winner,) = start_batch(call, batch_file("race/a.bin", token))
    # The loser looked before the winner recorded the token: it starts an upload of its own.
    monkeypatch.setattr(type(services.files), "find_client_tokens", lambda *args: {})
    (loser,) = start_batch(call, batch_file("race/a.bin", token))
    assert loser["fileId"] == winner["fileId"]
    assert multipart_uploads(services) == [("race/a.bin", winner["fileId"])]


def test_a_finished_or_aborted_upload_answers_its_state_without_urls(call: Call, services: Services) -> None:
    done_file, gone_file = batch_file("s/done.bin", parts=1), batch_file("s/gone.bin", parts=1)
    done, gone = start_batch(call, done_file, gone_file)
    finish_batch(call, {**ids_of(done), "parts": put_parts(services, ids_of(done), [b"x"])})
    assert call(abort_upload.handle, ids_of(gone)).status == 200
    again = start_batch(call, done_file, gone_file)
    assert [(e["fileId"], e.get("state"), "parts" in e) for e in again] == [
        (done["fileId"], "finished", False),
        (gone["fileId"], "aborted", False),
    ]


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"clientToken": None}, '"clientToken" is missing'),
        ({"clientToken": "short"}, "16 to 64 characters"),
        ({"clientToken": "x" * 65}, "16 to 64 characters"),
        ({"clientToken": "has spaces in it ok"}, "16 to 64 characters"),
        ({"single": True}, 'needs its "fileSize"'),
        ({"single": True, "fileSize": 5 * 1024**3 + 1}, "5 GiB"),
        ({"single": True, "fileSize": 1, "parts": 1}, "not both"),
        ({"single": "yes"}, '"single" must be true or false'),
        ({"parts": 101}, '"parts" must be from 0 to 100'),
        ({"parts": -1}, '"parts" must be from 0 to 100'),
        ({"fileSize": 1.5}, '"fileSize" must be a whole number'),
    ],
)
def test_bad_batch_entries_are_400_in_their_place(call: Call, entry: dict[str, Any], says: str) -> None:
    body = batch_file("bad/x.bin", **{k: v for k, v in entry.items() if k != "clientToken"})
    if "clientToken" in entry:
        body.pop("clientToken")
        if entry["clientToken"] is not None:
            body["clientToken"] = entry["clientToken"]
    good, refused = start_batch(call, batch_file("bad/fine.bin"), body)
    assert "fileId" in good
    assert refused["error"]["statusCode"] == "400"
    assert says in refused["error"]["message"]


@pytest.mark.parametrize("route", [initialize_batch.handle, finalize_batch.handle])
@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, '"files" is missing'),
        ({"files": []}, "non-empty array"),
        ({"files": {}}, "non-empty array"),
        ({"files": [{}] * 101}, "at most 100 per call"),
    ],
)
def test_a_batch_needs_1_to_100_files(call: Call, route: Any, body: dict[str, Any], says: str) -> None:
    reply = call(route, body)
    assert reply.status == 400
    assert says in reply.body["message"]


def test_a_batch_body_over_4_mib_is_refused_before_it_is_parsed(call: Call) -> None:
    raw = json.dumps({"files": [batch_file("big/x.bin", notes="n" * (4 * MIB))]})
    for route in (initialize_batch.handle, finalize_batch.handle):
        reply = call(route, raw=raw)
        assert reply.status == 413
        assert "at most 4194304" in reply.body["message"]


def test_a_batch_may_finish_at_most_10000_parts(call: Call) -> None:
    parts = [{"PartNumber": n, "ETag": '"e"'} for n in range(1, 5001)]
    entries = [{"fileId": f"u{n}", "fileKey": "k", "parts": parts} for n in range(3)]
    reply = call(finalize_batch.handle, {"files": entries})
    assert reply.status == 400
    assert "15000 parts" in reply.body["message"]


def test_metadata_beyond_the_bound_refuses_that_file_only(call: Call) -> None:
    good, big = start_batch(call, batch_file("meta/ok.bin"), batch_file("meta/big.bin", notes="m" * 70_000))
    assert "fileId" in good
    assert big["error"]["statusCode"] == "413"


def test_a_single_file_of_the_wrong_size_is_removed_and_not_published(call: Call, services: Services) -> None:
    (entry,) = start_batch(call, batch_file("size/one.txt", single=True, fileSize=3))
    # moto does not check signatures, so the signed Content-Length does not stop this PUT here
    headers = {**entry["headers"], "Content-Length": "6"}
    put = requests.put(entry["putUrl"], data=b"sixsix", headers=headers, timeout=30)
    assert put.status_code == 200
    (refused,) = finish_batch(call, ids_of(entry))
    assert refused["error"]["statusCode"] == "400"
    assert "6 bytes" in refused["error"]["message"]
    assert stored(services, "size/one.txt") is None
    (again,) = start_batch(call, batch_file("size/one.txt", entry["clientToken"], single=True, fileSize=3))
    assert put_single(again, b"abc").status_code == 200
    (done,) = finish_batch(call, ids_of(again))
    assert done["size"] == 3


def test_finishing_a_single_file_before_it_was_sent_says_so(call: Call) -> None:
    (entry,) = start_batch(call, batch_file("late/one.txt", single=True, fileSize=3))
    (refused,) = finish_batch(call, ids_of(entry))
    assert refused["error"]["statusCode"] == "400"
    assert "PUT it to its putUrl" in refused["error"]["message"]


def test_aborting_a_single_file_removes_what_it_sent(call: Call, services: Services) -> None:
    (entry,) = start_batch(call, batch_file("gone/one.txt", single=True, fileSize=3))
    assert put_single(entry, b"abc").status_code == 200
    assert call(abort_upload.handle, ids_of(entry)).body == {}
    assert stored(services, "gone/one.txt") is None
    (refused,) = finish_batch(call, ids_of(entry))
    assert (refused["error"]["statusCode"], refused["error"]["reason"]) == ("404", "UPLOAD_ABORTED")
    # the key is free again for someone else
    (other,) = start_batch(call, batch_file("gone/one.txt", single=True, fileSize=1), caller=BOB)
    assert "putUrl" in other


def test_a_single_file_has_no_parts(call: Call) -> None:
    (entry,) = start_batch(call, batch_file("one/x.txt", single=True, fileSize=1))
    reply = call(presign.handle, {**ids_of(entry), "parts": 1})
    assert reply.status == 400
    assert "single PUT" in reply.body["message"]


def test_no_caller_is_401_on_every_new_route(call: Call) -> None:
    for route in (initialize_batch.handle, finalize_batch.handle):
        assert call(route, {"files": [{}]}, caller=None).status == 401


def test_a_single_file_sent_before_the_answer_was_lost_may_be_sent_again(
    call: Call, services: Services
) -> None:
    file = batch_file("resent/one.txt", single=True, fileSize=3)
    (first,) = start_batch(call, file)
    assert put_single(first, b"abc").status_code == 200  # then the client crashed before noting it
    (again,) = start_batch(call, file)
    assert "If-None-Match" not in again["headers"]  # its own object is there: replacing it is fine
    assert put_single(again, b"abc").status_code == 200
    (done,) = finish_batch(call, ids_of(again))
    assert done["size"] == 3
    (fresh,) = start_batch(call, batch_file("resent/two.txt", single=True, fileSize=1))
    assert fresh["headers"]["If-None-Match"] == "*"


def test_a_batch_of_single_files_costs_a_listing_not_a_call_per_file(call: Call, services: Services) -> None:
    calls: list[str] = []
    services.s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    files = [batch_file(f"cheap/{n:03d}.txt", single=True, fileSize=1) for n in range(100)]
    entries = start_batch(call, *files)
    assert calls == ["ListObjectsV2"]  # signing is local: no call
    for entry in entries:
        assert put_single(entry, b"x").status_code == 200
    calls.clear()
    done = finish_batch(call, *(ids_of(e) for e in entries))
    assert calls == ["ListObjectsV2"]
    assert all(d["size"] == 1 for d in done)
