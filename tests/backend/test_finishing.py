"""Finishing is idempotent and crash-consistent (issue #11 items 1 and 7, the API side)."""

from __future__ import annotations

from typing import Any

import pytest

from backend.config import Config, ConfigError
from backend.handlers import abort_upload, finalize, initialize, list_parts, presign
from backend.runtime import Services
from backend.s3 import parts_expire_at
from tests.backend.routes_support import Call, finish, put_parts, start, stored
from tests.backend.support import CDN, UNIT_BUCKET, seed_body


def test_a_finished_upload_answers_finalize_again_and_409_elsewhere_with_a_reason(
    call: Call, services: Services
) -> None:
    ids = start(call, "done/x.bin")
    first = finish(call, ids, put_parts(services, ids, [b"abc"]))
    assert first.body == {"imagePath": "done/x.bin", "url": f"{CDN}/done/x.bin", "size": 3}
    assert finish(call, ids, [{"PartNumber": 1, "ETag": '"whatever"'}]).body == first.body
    assert call(finalize.handle, ids).body == first.body  # even without the parts
    for route, extra in ((presign.handle, {"parts": 1}), (list_parts.handle, {}), (abort_upload.handle, {})):
        reply = call(route, {**ids, **extra})
        assert (reply.status, reply.body["reason"]) == (409, "UPLOAD_FINISHED")


def test_an_upload_s3_completed_before_the_table_recorded_it_finishes_on_retry(
    call: Call, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = start(call, "crash/x.bin", fileSize=5)
    parts = put_parts(services, ids, [b"hello"])
    store = type(services.files)
    real = store.mark_finished

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("killed after S3 completed the upload")

    monkeypatch.setattr(store, "mark_finished", crash)
    with pytest.raises(RuntimeError):
        finish(call, ids, parts)
    assert stored(services, "crash/x.bin") == b"hello"
    monkeypatch.setattr(store, "mark_finished", real)
    again = finish(call, ids, parts)
    assert again.status == 200, again.body
    assert again.body == {"imagePath": "crash/x.bin", "url": f"{CDN}/crash/x.bin", "size": 5}
    upload = services.files.find(ids["fileId"])
    assert upload is not None
    assert upload.state == "finished"
    published = services.files.get_publications(["crash/x.bin"])["crash/x.bin"]
    assert (published.state, published.upload_id) == ("published", ids["fileId"])


def test_an_upload_s3_no_longer_has_is_404_saying_why(call: Call, services: Services) -> None:
    ids = start(call, "expired/x.bin")
    parts = put_parts(services, ids, [b"abc"])
    services.s3.abort_multipart_upload(Bucket=UNIT_BUCKET, Key="expired/x.bin", UploadId=ids["fileId"])
    reply = finish(call, ids, parts)
    assert reply.status == 404
    assert "7 days" in reply.body["message"]
    # someone else's object at the key is not taken for this upload's
    services.s3.put_object(Bucket=UNIT_BUCKET, Key="expired/x.bin", Body=b"other")
    assert finish(call, ids, parts).status == 404


def test_initialize_says_how_long_the_parts_are_kept(call: Call, services: Services) -> None:
    reply = call(initialize.handle, seed_body("kept/x.bin"))
    assert reply.body["partsKeptDays"] == 7
    upload = services.files.find(reply.body["fileId"])
    assert upload is not None
    assert reply.body["partsExpireAt"] == parts_expire_at(upload.created_at, 7)


@pytest.mark.parametrize(
    ("created", "days", "expires"),
    [
        ("2026-01-30T10:15:00Z", 7, "2026-02-07T00:00:00Z"),
        ("2026-01-30T00:00:00Z", 1, "2026-01-31T00:00:00Z"),
        ("2026-12-31T23:59:59Z", 1, "2027-01-02T00:00:00Z"),
    ],
)
def test_parts_expire_at_the_midnight_after_the_lifecycle_days(created: str, days: int, expires: str) -> None:
    assert parts_expire_at(created, days) == expires


def test_parts_kept_days_comes_from_the_environment() -> None:
    assert Config.from_env({"PARTS_KEPT_DAYS": "3"}).parts_kept_days == 3
    assert Config.from_env({}).parts_kept_days == 7
    with pytest.raises(ConfigError, match="PARTS_KEPT_DAYS"):
        Config.from_env({"PARTS_KEPT_DAYS": "0"})
