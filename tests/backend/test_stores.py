"""The `FileStore` contract, run against both implementations (DynamoDB on moto, and SQLite).

The handlers only ever see this interface, so whatever holds here holds for them on either store.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from backend.files import (
    CLIENT_TOKEN_SECONDS,
    FileStore,
    Finish,
    NewUpload,
    Publication,
    PublicationLostError,
    PublicationState,
    UploadState,
)
from backend.runtime import Services
from backend.stores.sqlite import SqliteDatabase, SqliteFileStore, SqliteTokenStore


def new_upload(upload_id: str, key: str = "k/a.bin", **fields: Any) -> NewUpload:
    values: dict[str, Any] = {
        "principal": "alice",
        "organization_id": "org-7",
        "request_json": '{"plugin":"upload-s3"}',
        "content_type": "application/octet-stream",
        **fields,
    }
    return NewUpload(upload_id=upload_id, file_key=key, **values)


@pytest.fixture
def store(services: Services) -> FileStore:
    return services.files


def claim(key: str, upload_id: str, *, org: str = "org-7", holds_for: float = 60.0) -> Publication:
    now = time.time()
    return Publication(key, org, "alice", upload_id, PublicationState.CLAIMED, now, now + holds_for)


def test_numbers_are_consecutive_and_never_reused(store: FileStore) -> None:
    assert store.next_number() == 1
    assert store.reserve_numbers(5) == 2
    assert store.next_number() == 7
    with pytest.raises(ValueError, match="at least one"):
        store.reserve_numbers(0)


def test_an_upload_reads_back_whole(store: FileStore) -> None:
    first = new_upload("up-1", file_size=10, single=True, overwrite=True, client_token="c" * 16)
    recorded = store.record(4, first)
    assert recorded.created
    found = store.find("up-1")
    assert found == recorded.upload
    assert found is not None
    assert (found.file_number, found.file_key, found.state) == (4, "k/a.bin", UploadState.UPLOADING)
    assert (found.principal, found.organization_id) == ("alice", "org-7")
    assert (found.file_size, found.single, found.overwrite, found.client_token) == (10, True, True, "c" * 16)
    assert found.created_at.endswith("Z")
    assert found.owned_by("alice", "org-7")
    assert not found.owned_by("alice", "org-8")
    assert store.find("up-2") is None
    store.record(5, new_upload("up-2", file_size=None))
    assert set(store.find_many(["up-1", "up-2", "up-3"])) == {"up-1", "up-2"}
    assert store.find_many([]) == {}


def test_a_client_token_maps_to_the_first_upload_only(store: FileStore) -> None:
    token = "client-token-0001"
    first = store.record(1, new_upload("up-1", client_token=token))
    again = store.record(2, new_upload("up-2", client_token=token))
    assert first.created
    assert not again.created
    assert again.upload.upload_id == "up-1"
    assert store.find("up-2") is None  # nothing of the second was written
    assert store.find_client_tokens("alice", "org-7", [token, "other-token-0001"]) == {token: first.upload}
    # the same token of another owner (principal or organisation) is another upload
    assert store.record(3, new_upload("up-3", client_token=token, principal="bob")).created
    assert store.record(4, new_upload("up-4", client_token=token, organization_id="org-8")).created
    assert store.find_client_tokens("bob", "org-7", [token])[token].upload_id == "up-3"


def test_a_batch_records_in_order_and_reports_tokens_already_taken(store: FileStore) -> None:
    store.record(1, new_upload("up-1", client_token="taken-token-00001"))
    results = store.record_many(
        [
            (2, new_upload("up-2", key="a", client_token="fresh-token-00001")),
            (3, new_upload("up-3", key="b", client_token="taken-token-00001")),
            (4, new_upload("up-4", key="c")),
        ]
    )
    assert [(r.upload.upload_id, r.created) for r in results] == [
        ("up-2", True),
        ("up-1", False),
        ("up-4", True),
    ]


def test_a_client_token_expires_after_seven_days(store: FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "expiring-token-001"
    store.record(1, new_upload("up-1", client_token=token))
    later = time.time() + CLIENT_TOKEN_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert store.find_client_tokens("alice", "org-7", [token]) == {}
    assert store.record(2, new_upload("up-2", client_token=token)).created
    assert store.find_client_tokens("alice", "org-7", [token])[token].upload_id == "up-2"


def test_finish_and_abort_are_recorded(store: FileStore) -> None:
    upload = store.record(1, new_upload("up-1")).upload
    finished = store.mark_finished(upload, Finish(size=42, url="https://cdn/k/a.bin", etag='"abc"'))
    assert finished == store.find("up-1")
    assert finished.state is UploadState.FINISHED
    assert finished.finish == Finish(42, "https://cdn/k/a.bin", '"abc"')
    assert finished.finished_at
    other = store.record(2, new_upload("up-2")).upload
    store.mark_aborted(other)
    aborted = store.find("up-2")
    assert aborted is not None
    assert aborted.state is UploadState.ABORTED


def test_publications_change_only_by_compare_and_swap(store: FileStore) -> None:
    key = "k/a.bin"
    mine = store.put_publication(claim(key, "up-1"), None)
    assert mine is not None
    assert mine.version == 1
    assert store.put_publication(claim(key, "up-2"), None) is None  # it exists now
    assert store.get_publications([key, "elsewhere"]) == {key: mine}
    stale = replace(mine, version=0)
    assert store.put_publication(claim(key, "up-2"), stale) is None
    theirs = store.put_publication(claim(key, "up-2", org="org-8"), mine)
    assert theirs is not None
    assert (theirs.upload_id, theirs.organization_id, theirs.version) == ("up-2", "org-8", 2)
    assert not store.delete_publication(mine)
    assert store.delete_publication(theirs)
    assert store.get_publications([key]) == {}


def test_finishing_publishes_the_key_atomically(store: FileStore) -> None:
    upload = store.record(1, new_upload("up-1")).upload
    claimed = store.put_publication(claim(upload.file_key, "up-1"), None)
    assert claimed is not None
    taken = store.put_publication(claim(upload.file_key, "up-9", org="org-8"), claimed)
    assert taken is not None
    with pytest.raises(PublicationLostError):
        store.mark_finished(upload, Finish(size=1), claimed)
    unchanged = store.find("up-1")
    assert unchanged is not None
    assert unchanged.state is UploadState.UPLOADING  # nothing was written
    store.mark_finished(upload, Finish(size=1), taken)
    published = store.get_publications([upload.file_key])[upload.file_key]
    assert (published.state, published.upload_id, published.organization_id) == (
        PublicationState.PUBLISHED,
        "up-1",
        "org-7",
    )
    assert published.version == taken.version + 1


def test_listing_is_per_owner_newest_first_and_pages(store: FileStore) -> None:
    for number in range(1, 8):
        store.record(number, new_upload(f"up-{number}", key=f"k/{number}"))
    store.record(8, new_upload("bob-1", principal="bob"))
    store.record(9, new_upload("other-org-1", organization_id="org-8"))
    uploads = {u.upload_id: u for u in store.find_many([f"up-{n}" for n in range(1, 8)]).values()}
    store.mark_finished(uploads["up-2"], Finish(size=1))
    store.mark_aborted(uploads["up-3"])
    store.mark_finished(uploads["up-6"], Finish(size=1))

    def ids(**query: Any) -> list[str]:
        listed = store.list_uploads("alice", "org-7", **query)
        return [u.upload_id for u in listed]

    assert ids(state=None, limit=100) == [f"up-{n}" for n in range(7, 0, -1)]
    assert ids(state=None, limit=3) == ["up-7", "up-6", "up-5"]
    assert ids(state=None, limit=3, before=5) == ["up-4", "up-3", "up-2"]
    assert ids(state=UploadState.FINISHED, limit=10) == ["up-6", "up-2"]
    assert ids(state=UploadState.UPLOADING, limit=2, before=7) == ["up-5", "up-4"]
    assert ids(state=UploadState.ABORTED, limit=10) == ["up-3"]
    assert ids(state=None, limit=5, before=1) == []
    listed = store.list_uploads("alice", "org-7", state=UploadState.FINISHED, limit=1)[0]
    assert (listed.state, listed.size, listed.file_key) == (UploadState.FINISHED, 1, "k/6")
    assert [u.upload_id for u in store.list_uploads("bob", "org-7", state=None, limit=10)] == ["bob-1"]


# ---- SQLite: many threads, and a killed process -------------------------------------------------
def test_sqlite_is_safe_under_64_concurrent_callers(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "tables.sqlite3")
    store = SqliteFileStore(database)
    errors: list[BaseException] = []
    start = threading.Barrier(64)

    def work(worker: int) -> None:
        try:
            start.wait(10)
            for round_ in range(5):
                first = store.reserve_numbers(2)
                results = store.record_many(
                    [
                        (
                            first,
                            new_upload(
                                f"w{worker}-{round_}-a", client_token=f"token-{worker:04d}-{round_:06d}"
                            ),
                        ),
                        (first + 1, new_upload(f"w{worker}-{round_}-b")),
                    ]
                )
                store.mark_finished(results[0].upload, Finish(size=round_))
                store.list_uploads("alice", "org-7", state=UploadState.FINISHED, limit=10)
                store.put_publication(claim(f"shared/{round_}", f"w{worker}"), None)
        except BaseException as exc:  # reported below, with the worker that failed
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(store.list_uploads("alice", "org-7", state=None, limit=1000)) == 64 * 5 * 2
    assert store.next_number() == 64 * 5 * 2 + 1
    assert set(store.get_publications([f"shared/{n}" for n in range(5)])) == {f"shared/{n}" for n in range(5)}
    database.close()


def test_sqlite_keeps_every_committed_write_when_the_process_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "data" / "tables.sqlite3"
    writer = textwrap.dedent(
        f"""
        import os, signal, sys
        from backend.files import Finish, NewUpload
        from backend.stores.sqlite import SqliteDatabase, SqliteFileStore, SqliteTokenStore
        database = SqliteDatabase({str(path)!r})
        files, tokens = SqliteFileStore(database), SqliteTokenStore(database)
        for n in range(1, 51):
            upload = NewUpload(f"up-{{n}}", f"k/{{n}}", "alice", "org-7", "{{}}", "text/plain")
            recorded = files.record(files.next_number(), upload)
            if n % 2:
                files.mark_finished(recorded.upload, Finish(size=n))
        token, _ = tokens.create("alice", "org-7")
        print(token, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    killed = subprocess.run(
        [sys.executable, "-c", writer], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (path.stat().st_mode & 0o777) == 0o600
    database = SqliteDatabase(path)
    store = SqliteFileStore(database)
    listed = store.list_uploads("alice", "org-7", state=None, limit=100)
    assert [u.file_number for u in listed] == list(range(50, 0, -1))
    assert sum(u.state is UploadState.FINISHED for u in listed) == 25
    assert SqliteTokenStore(database).verify(killed.stdout.strip()).principal == "alice"
    database.close()


def test_sqlite_refuses_a_file_from_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "tables.sqlite3"
    SqliteDatabase(path).close()
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="newer s3up"):
        SqliteDatabase(path)


# ---- DynamoDB: items written before uploads carried their organisation -------------------------
@pytest.mark.parametrize("store_kind", ["dynamodb"], indirect=True)
def test_dynamodb_pointer_without_organisation_reads_it_from_the_numbered_item(services: Services) -> None:
    table = services.config.files_table
    services.dynamodb.put_item(
        TableName=table,
        Item={"pk": {"S": "12"}, "organizationId": {"S": "org-7"}, "uploadId": {"S": "old-1"}},
    )
    services.dynamodb.put_item(
        TableName=table,
        Item={
            "pk": {"S": "upload#old-1"},
            "fileNumber": {"N": "12"},
            "fileKey": {"S": "legacy.bin"},
            "principal": {"S": "alice"},
            "state": {"S": "uploading"},
        },
    )
    found = services.files.find("old-1")
    assert found is not None
    assert (found.upload_id, found.file_number, found.organization_id) == ("old-1", 12, "org-7")
    assert found.owned_by("alice", "org-7")
