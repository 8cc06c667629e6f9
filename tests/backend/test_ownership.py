"""Issue #15, one test per finding the handlers close: who may write where, and what gets published.

Each replays the attack the issue describes (in-process, moto's S3, either table store).
"""

from __future__ import annotations

import json
import time

import pytest

from backend import apigw
from backend.apigw import Caller
from backend.files import Publication, PublicationState
from backend.handlers import abort_upload, finalize, initialize, list_parts, presign, session
from backend.runtime import Services, run_route
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
    stored,
)
from tests.backend.support import MIB, UNIT_BUCKET, proxy_event, seed_body

UPLOADER_A = Caller("uploader-a", "org-a")
UPLOADER_B = Caller("uploader-b", "org-b")
COLLEAGUE_A = Caller("colleague-a", "org-a")


def publish(call: Call, services: Services, key: str, data: bytes, caller: Caller, **extra: object) -> None:
    ids = start(call, key, caller=caller, **extra)
    reply = finish(call, ids, put_parts(services, ids, [data]), caller=caller)
    assert reply.status == 200, reply.body


# ---- 1. another organisation replaces a published object ------------------------------------------
def test_1_another_organisation_cannot_overwrite_a_published_object(call: Call, services: Services) -> None:
    publish(call, services, "shared/report.pdf", b"from a", UPLOADER_A)
    refused = call(initialize.handle, seed_body("shared/report.pdf", overwrite=True), caller=UPLOADER_B)
    assert refused.status == 403
    assert "another organisation" in refused.body["message"]
    (single,) = start_batch(
        call, batch_file("shared/report.pdf", single=True, fileSize=1, overwrite=True), caller=UPLOADER_B
    )
    assert single["error"]["statusCode"] == "403"
    assert stored(services, "shared/report.pdf") == b"from a"


def test_1_the_same_organisation_may_overwrite(call: Call, services: Services) -> None:
    publish(call, services, "shared/report.pdf", b"from a", UPLOADER_A)
    publish(call, services, "shared/report.pdf", b"from a colleague", COLLEAGUE_A, overwrite=True)
    assert stored(services, "shared/report.pdf") == b"from a colleague"


def test_1_an_overwrite_started_before_another_organisation_published_is_403_at_the_end(
    call: Call, services: Services
) -> None:
    early = start(call, "shared/late.pdf", caller=UPLOADER_B, overwrite=True)
    publish(call, services, "shared/late.pdf", b"from a", UPLOADER_A)
    refused = finish(call, early, put_parts(services, early, [b"from b"]), caller=UPLOADER_B)
    assert refused.status == 403
    assert stored(services, "shared/late.pdf") == b"from a"


# ---- 2. the no-overwrite promise holds at the end ------------------------------------------------
def test_2_finishing_onto_a_key_published_meanwhile_is_409(call: Call, services: Services) -> None:
    early = start(call, "race/one.bin", caller=UPLOADER_B)
    publish(call, services, "race/one.bin", b"from a", UPLOADER_A)
    refused = finish(call, early, put_parts(services, early, [b"from b"]), caller=UPLOADER_B)
    assert refused.status == 409
    assert refused.body["reason"] == "KEY_EXISTS"
    assert stored(services, "race/one.bin") == b"from a"
    # the upload stays open: the client may abort it, or start again with overwrite
    assert call(abort_upload.handle, early, caller=UPLOADER_B).status == 200


def claim(key: str, upload_id: str, since: float, holds_for: float) -> Publication:
    return Publication(
        key, "org-a", "uploader-a", upload_id, PublicationState.CLAIMED, since, since + holds_for
    )


def test_2_a_key_being_finished_by_another_upload_is_busy(call: Call, services: Services) -> None:
    other = start(call, "busy/x.bin", caller=UPLOADER_A)
    mine = start(call, "busy/x.bin", caller=UPLOADER_B)
    assert services.files.put_publication(claim("busy/x.bin", other["fileId"], time.time(), 60), None)
    refused = finish(call, mine, put_parts(services, mine, [b"b"]), caller=UPLOADER_B)
    assert (refused.status, refused.body["reason"]) == (409, "KEY_BUSY")
    assert stored(services, "busy/x.bin") is None


def test_2_a_claim_left_by_a_crashed_finish_lapses(call: Call, services: Services) -> None:
    mine = start(call, "lapsed/x.bin", caller=UPLOADER_B)
    assert services.files.put_publication(claim("lapsed/x.bin", "dead-upload", time.time() - 3600, 60), None)
    assert finish(call, mine, put_parts(services, mine, [b"b"]), caller=UPLOADER_B).status == 200
    assert stored(services, "lapsed/x.bin") == b"b"


def test_2_a_published_key_whose_object_was_deleted_is_free_again(call: Call, services: Services) -> None:
    publish(call, services, "expired/x.bin", b"old", UPLOADER_A)
    services.s3.delete_object(Bucket=UNIT_BUCKET, Key="expired/x.bin")  # e.g. objectExpirationDays
    publish(call, services, "expired/x.bin", b"new", UPLOADER_B)
    assert stored(services, "expired/x.bin") == b"new"


def test_2_a_single_put_claims_its_key_while_its_url_lives(call: Call, services: Services) -> None:
    (single,) = start_batch(call, batch_file("claimed/x.txt", single=True, fileSize=1), caller=UPLOADER_A)
    refused = call(initialize.handle, seed_body("claimed/x.txt", overwrite=True), caller=COLLEAGUE_A)
    assert (refused.status, refused.body["reason"]) == (409, "KEY_BUSY")
    assert put_single(single, b"a").status_code == 200
    (done,) = finish_batch(call, ids_of(single), caller=UPLOADER_A)
    assert done["size"] == 1
    assert (
        call(initialize.handle, seed_body("claimed/x.txt", overwrite=True), caller=COLLEAGUE_A).status == 200
    )


# ---- 3. a prefix is a folder -------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["team", "team/", "team//"])
@pytest.mark.parametrize(
    ("key", "allowed"), [("team/x", True), ("teammates/x", False), ("team2/x", False), ("teamX", False)]
)
def test_3_a_prefix_is_a_folder(call: Call, prefix: str, key: str, allowed: bool) -> None:
    reply = call(initialize.handle, seed_body(key), caller=Caller("t", "org-t", prefix))
    assert reply.status == (200 if allowed else 403), reply.body


# ---- 4. an upload belongs to its principal and organisation, inside the token's folder -------------
@pytest.mark.parametrize(
    "intruder",
    [
        Caller("svc", "org-z", "org-z/"),
        Caller("svc", "org-z", ""),
        Caller("owner", "org-z", ""),  # same principal name, another organisation
        Caller("owner", "org-a", "elsewhere/"),  # the owner, with a token for another folder
    ],
)
def test_4_another_caller_given_the_file_id_gets_403_everywhere(
    call: Call, services: Services, intruder: Caller
) -> None:
    owner = Caller("owner", "org-a", "")
    ids = start(call, "org-a/payroll.pdf", caller=owner)
    parts = put_parts(services, ids, [b"pay"])
    for route, extra in (
        (presign.handle, {"parts": 1}),
        (list_parts.handle, {}),
        (finalize.handle, {"parts": parts}),
        (abort_upload.handle, {}),
    ):
        reply = call(route, {**ids, **extra}, caller=intruder)
        assert reply.status == 403, (route, reply.body)
    (refused,) = finish_batch(call, {**ids, "parts": parts}, caller=intruder)
    assert refused["error"]["statusCode"] == "403"
    assert stored(services, "org-a/payroll.pdf") is None
    assert finish(call, ids, parts, caller=owner).status == 200


# ---- 5. uploads cannot become live pages on the CDN ------------------------------------------------
@pytest.mark.parametrize(
    ("content_type", "attachment"),
    [
        ("text/html", True),
        ("text/html; charset=utf-8", True),
        ("image/svg+xml", True),
        ("application/xml", True),
        ("application/atom+xml", True),
        ("text/javascript", True),
        ("application/xhtml+xml", True),
        ("image/png", False),
        ("application/pdf", False),
        ("text/plain", False),
        ("video/mp4", False),
    ],
)
def test_5_types_a_browser_would_run_are_stored_as_attachments(
    call: Call, services: Services, content_type: str, attachment: bool
) -> None:
    ids = start(call, "page/x", contentType=content_type)
    assert finish(call, ids, put_parts(services, ids, [b"<script>alert(1)</script>"])).status == 200
    head = services.s3.head_object(Bucket=UNIT_BUCKET, Key="page/x")
    assert head["ContentType"] == content_type
    assert head.get("ContentDisposition") == ("attachment" if attachment else None)
    (single,) = start_batch(call, batch_file("page/y", single=True, fileSize=2, contentType=content_type))
    assert ("Content-Disposition" in single["headers"]) is attachment


def test_5_a_key_ending_in_html_is_served_as_a_download_too(call: Call, services: Services) -> None:
    ids = start(call, "page/index.html")
    assert finish(call, ids, put_parts(services, ids, [b"<script>"])).status == 200
    head = services.s3.head_object(Bucket=UNIT_BUCKET, Key="page/index.html")
    assert (head["ContentType"], head["ContentDisposition"]) == ("text/html", "attachment")


# ---- 6. the declared size is enforced -------------------------------------------------------------
def test_6_parts_that_do_not_add_up_to_file_size_publish_nothing(call: Call, services: Services) -> None:
    ids = start(call, "size/declared.bin", fileSize=10)
    parts = put_parts(services, ids, [b"x" * (6 * MIB)])
    refused = finish(call, ids, parts)
    assert refused.status == 400
    assert "6291456 bytes" in refused.body["message"]
    assert "fileSize 10" in refused.body["message"]
    assert stored(services, "size/declared.bin") is None
    assert call(list_parts.handle, ids).status == 200  # still open: the client may fix or abort it


def test_6_a_part_etag_that_s3_does_not_hold_is_400_before_anything_is_published(
    call: Call, services: Services
) -> None:
    ids = start(call, "size/etag.bin")
    parts = put_parts(services, ids, [b"abc"])
    refused = finish(call, ids, [{"PartNumber": 1, "ETag": '"0123456789abcdef0123456789abcdef"'}])
    assert refused.status == 400
    assert "S3 holds" in refused.body["message"]
    assert stored(services, "size/etag.bin") is None
    assert finish(call, ids, parts).status == 200


# ---- 7. a body larger than a route can use is refused before it is parsed ---------------------------
def test_7_a_large_body_is_refused_unparsed(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = []
    real = apigw._parse_body
    monkeypatch.setattr(apigw, "_parse_body", lambda *a: parsed.append(1) or real(*a))
    raw = json.dumps({"padding": "p" * (9 * MIB)})
    answer = run_route(session.handle, proxy_event(None, Caller("a", "o"), raw=raw), services)
    assert answer["statusCode"] == 413
    assert "at most 4096" in json.loads(answer["body"])["message"]
    assert parsed == []
    small = run_route(session.handle, proxy_event({}, Caller("a", "o")), services)
    assert small["statusCode"] == 200
    assert parsed == [1]


# ---- 8. at most 1,000 URLs per call ---------------------------------------------------------------
def test_8_more_than_1000_urls_per_call_is_400_saying_to_page(call: Call) -> None:
    ids = start(call, "many/parts.bin")
    refused = call(presign.handle, {**ids, "parts": 5000})
    assert refused.status == 400
    assert "partNumbers" in refused.body["message"]
    assert len(call(presign.handle, {**ids, "parts": 1000}).body["parts"]) == 1000


# ---- 9. numbers must be finite --------------------------------------------------------------------
@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_9_numbers_in_metadata_must_be_finite(call: Call, services: Services, number: str) -> None:
    raw = f'{{"plugin": "upload-s3", "pluginPayload": {{"imageKey": "n.bin", "weight": {number}}}}}'
    reply = call(initialize.handle, raw=raw)
    assert reply.status == 400
    assert "finite" in reply.body["message"] or "not a JSON number" in reply.body["message"]


# ---- 10. spoofing characters and empty segments ----------------------------------------------------
@pytest.mark.parametrize(
    "key",
    [
        "invoice\u202efdp.exe",  # right-to-left override
        "a\u2066b",  # left-to-right isolate
        "zero\u200bwidth.txt",
        "join\u200d.txt",
        "bom\ufeff.txt",
        "line\u2028sep.txt",
        "para\u2029sep.txt",
        "soft\u00adhyphen.txt",
        "a//b",
        "//a",
    ],
)
def test_10_spoofing_keys_are_400(call: Call, key: str) -> None:
    reply = call(initialize.handle, seed_body(key))
    assert reply.status == 400
    (entry,) = start_batch(call, batch_file(key))
    assert entry["error"]["statusCode"] == "400"
