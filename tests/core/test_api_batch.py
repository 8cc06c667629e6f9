"""The API client's folder routes against this project's API: typed results, per-file errors, paging."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import requests

from app.core.api import ApiClient
from app.core.api_records import FileRefused, FileToFinish, FileToStart, FinishedFile, StartedFile
from app.core.errors import ConflictError, InvalidRequestError
from app.core.metadata import build_payload
from backend.local import LocalStack
from tests.core.conftest import METADATA


def token() -> str:
    return uuid.uuid4().hex


def test_session_lists_the_folder_routes_and_their_limits(stack: LocalStack) -> None:
    info = ApiClient(stack.api_url, stack.token).probe()
    assert {"clientToken", "batch", "singlePut", "listUploads"} <= info.capabilities
    assert info.limit("batchFiles", 0) == 100
    assert info.parts_kept_days == 7


def test_a_batch_starts_single_and_multipart_files_and_refuses_one_alone(stack: LocalStack) -> None:
    client = ApiClient(stack.api_url, stack.token)
    body = b"hello single"
    files = [
        FileToStart(token(), build_payload(METADATA, "batch/one.txt"), len(body), "text/plain", single=True),
        FileToStart(token(), build_payload(METADATA, "batch/big.bin"), 12 << 20, sign_parts=2),
        FileToStart(token(), build_payload(METADATA, "batch//bad"), 1, single=True),
    ]
    single, multipart, refused = client.initialize_batch(files)
    assert isinstance(single, StartedFile)
    assert single.put_url is not None
    assert single.urls == {}
    assert isinstance(multipart, StartedFile)
    assert sorted(multipart.urls) == [1, 2]
    assert multipart.parts_expire_at is not None
    assert isinstance(refused, FileRefused)
    assert refused.ref == files[2].client_token
    assert isinstance(refused.error, InvalidRequestError)

    put = requests.put(single.put_url.url, data=body, headers=dict(single.headers), timeout=10)
    assert put.status_code == 200, put.text
    again = client.initialize_batch(files[:1])[0]  # the same clientToken: the same upload
    assert isinstance(again, StartedFile)
    assert again.file_id == single.file_id

    finished, not_yet = client.finalize_batch(
        [
            FileToFinish(single.file_id, single.file_key),
            FileToFinish(multipart.file_id, multipart.file_key, ((1, '"00"'),)),
        ],
        cdn_base_url=None,
    )
    assert isinstance(finished, FinishedFile)
    assert finished.size == len(body)
    assert finished.etag is not None
    assert finished.etag.strip('"') == hashlib.md5(body).hexdigest()
    assert finished.url == f"{stack.cdn_base_url}/batch/one.txt"
    assert isinstance(not_yet, FileRefused)
    client.abort(multipart.file_id, multipart.file_key)


def test_a_taken_key_is_that_files_conflict(stack: LocalStack) -> None:
    client = ApiClient(stack.api_url, stack.token)
    first = client.initialize_batch(
        [FileToStart(token(), build_payload(METADATA, "batch/taken.txt"), 1, single=True)]
    )[0]
    assert isinstance(first, StartedFile)
    assert first.put_url is not None
    requests.put(first.put_url.url, data=b"x", headers=dict(first.headers), timeout=10).raise_for_status()
    client.finalize_batch([FileToFinish(first.file_id, first.file_key)])
    second = client.initialize_batch(
        [FileToStart(token(), build_payload(METADATA, "batch/taken.txt"), 1, single=True)]
    )[0]
    assert isinstance(second, FileRefused)
    assert isinstance(second.error, ConflictError)


def test_list_uploads_pages_the_callers_own_uploads_newest_first(stack: LocalStack) -> None:
    owner = stack.issue_token(principal="lister", organization_id="local-org")
    client = ApiClient(stack.api_url, owner)
    started = [
        client.initialize(build_payload(METADATA, f"listing/{n}.bin"), file_size=5, client_token=token())
        for n in range(3)
    ]
    first = client.list_uploads("uploading", limit=2)
    assert len(first.uploads) == 2
    assert first.cursor is not None
    rest = client.list_uploads("uploading", limit=2, cursor=first.cursor)
    listed = [u.file_id for u in first.uploads + rest.uploads]
    assert listed == [s.file_id for s in reversed(started)]
    assert all(u.state == "uploading" and u.file_size == 5 and u.created_at for u in first.uploads)
    with pytest.raises(InvalidRequestError):
        client.list_uploads("uploading", cursor="not-a-cursor")
    other = ApiClient(stack.api_url, stack.token).list_uploads("all", limit=1000)
    assert not {u.file_id for u in other.uploads} & set(listed), "another principal's uploads were listed"
