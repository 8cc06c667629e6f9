"""What a resume keeps, checks and repairs; what the user is told; and what a key conflict waits for."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core.api import ApiClient
from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, UploadRequest, UploadState, UploadStatus
from app.core.upload import expiry_warning
from backend.local import LocalStack
from tests.core.adding import add_one
from tests.core.conftest import fetch, request, wait_for, wait_for_parts
from tests.fault_proxy import Fault, FaultProxy, Seen

MakeManager = Callable[..., UploadManager]
MakeFile = Callable[[str, int], Path]
ENDED = {
    UploadState.DONE,
    UploadState.FAILED,
    UploadState.CONFLICT,
    UploadState.FILE_CHANGED,
    UploadState.FILE_MISSING,
    UploadState.NEEDS_SIGN_IN,
}


def record_statuses(manager: UploadManager) -> list[UploadStatus]:
    seen: list[UploadStatus] = []
    lock = threading.Lock()

    def keep(status: UploadStatus) -> None:
        with lock:
            seen.append(status)

    manager.subscribe(keep)
    return seen


def edit_in_place(path: Path, offset: int) -> None:
    """Change a few bytes in the middle without changing the size, the mtime or the first and last MiB
    (what the cheap fingerprint sees)."""
    info = path.stat()
    with path.open("r+b") as file:
        file.seek(offset)
        original = file.read(16)
        file.seek(offset)
        file.write(bytes(b ^ 0xFF for b in original))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_resume_checks_the_parts_sent_before_and_resends_those_that_differ(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    path = make_file("edited.bin", 26 * MIB)  # 6 parts of 5 MiB; parts 1-3 sent, then paused
    first = make_manager(journal, stack.token, bandwidth_limit=10 * MIB, per_file_connections=1)
    upload_ref = add_one(first, request(path, stack.api_url, "resume/edited.bin")).id
    wait_for_parts(journal, upload_ref, 3)
    first.shutdown()
    edit_in_place(path, 7 * MIB)  # inside part 2, which S3 holds already
    second = make_manager(journal, stack.token)
    seen = record_statuses(second)
    second.restore()
    second.resume(upload_ref)
    status = wait_for(second, upload_ref, ENDED)
    assert status.state is UploadState.DONE, status.message
    assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]
    assert status.parts_resent == 1
    assert status.parts_to_check >= 3
    assert "1 of the" in (status.message or "")
    assert any(s.activity and s.activity.startswith("Checking ") for s in seen), "the check was not shown"


def test_a_file_deleted_or_changed_while_paused_is_told_apart(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    path = make_file("missing.bin", 12 * MIB)
    manager = make_manager(journal, stack.token, bandwidth_limit=4 * MIB)
    upload_ref = add_one(manager, request(path, stack.api_url, "resume/missing.bin")).id
    wait_for(manager, upload_ref, {UploadState.UPLOADING})
    manager.pause(upload_ref)
    moved = path.with_suffix(".moved")
    path.rename(moved)
    manager.resume(upload_ref)
    status = manager.status(upload_ref)
    assert status is not None
    assert status.state is UploadState.FILE_MISSING
    assert status.state.label == "File missing"
    assert "no longer exists" in (status.message or "")
    moved.rename(path)  # put back: it goes on
    manager.resume(upload_ref)
    assert wait_for(manager, upload_ref, ENDED).state is UploadState.DONE


def test_an_existing_key_waits_for_the_users_choice_and_resume_all_leaves_it(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    taken = make_file("taken.bin", 1000)
    manager = make_manager(journal, stack.token)
    first = add_one(manager, request(taken, stack.api_url, "conflict/taken.bin")).id
    assert wait_for(manager, first, ENDED).state is UploadState.DONE
    replacement = make_file("replacement.bin", 6 * MIB)
    upload_ref = add_one(manager, request(replacement, stack.api_url, "conflict/taken.bin")).id
    status = wait_for(manager, upload_ref, ENDED)
    assert status.state is UploadState.CONFLICT
    assert "already exists" in (status.message or "")
    assert "tried again" not in (status.message or "")
    manager.resume_all()
    assert manager.status(upload_ref).state is UploadState.CONFLICT  # type: ignore[union-attr]

    manager.resolve_conflict(upload_ref, new_key="conflict/renamed.bin")
    status = wait_for(manager, upload_ref, ENDED)
    assert status.state is UploadState.DONE, status.message
    assert status.key == "conflict/renamed.bin"
    assert fetch(status.url) == replacement.read_bytes()  # type: ignore[arg-type]

    again = add_one(manager, request(replacement, stack.api_url, "conflict/taken.bin")).id
    assert wait_for(manager, again, ENDED).state is UploadState.CONFLICT
    manager.resolve_conflict(again, overwrite=True)
    status = wait_for(manager, again, ENDED)
    assert status.state is UploadState.DONE, status.message
    assert fetch(status.url) == replacement.read_bytes()  # type: ignore[arg-type]


def test_an_upload_the_server_lost_starts_again_from_its_first_part(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    path = make_file("lost.bin", 16 * MIB)
    manager = make_manager(journal, stack.token, bandwidth_limit=8 * MIB, per_file_connections=1)
    seen = record_statuses(manager)
    upload_ref = add_one(manager, request(path, stack.api_url, "resume/lost.bin")).id
    wait_for_parts(journal, upload_ref, 1)
    manager.pause(upload_ref)
    lost = manager.status(upload_ref).upload_id  # type: ignore[union-attr]
    stack.s3.abort_multipart_upload(
        Bucket=stack.bucket, Key="resume/lost.bin", UploadId=lost
    )  # the clean-up rule
    manager.resume(upload_ref)
    status = wait_for(manager, upload_ref, ENDED)
    assert status.state is UploadState.DONE, status.message
    assert status.upload_id != lost
    assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]
    said = [s for s in seen if "sent again from its first part" in (s.message or "")]
    # The sentence stands while the file is sent again, not only until its first part goes.
    assert any(s.state is UploadState.UPLOADING and s.bytes_done > 0 for s in said)


def test_parts_expiry_is_known_and_warned_of_a_day_before(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    path = make_file("expiry.bin", 12 * MIB)
    manager = make_manager(journal, stack.token, bandwidth_limit=4 * MIB)
    upload_ref = add_one(manager, request(path, stack.api_url, "resume/expiry.bin")).id
    wait_for(manager, upload_ref, {UploadState.UPLOADING})
    manager.pause(upload_ref)
    status = manager.status(upload_ref)
    assert status is not None
    assert status.parts_expire_at is not None
    days = (status.parts_expire_at - time.time()) / 86400
    assert 1 <= days <= 8  # whole days from the start, up to the next midnight UTC
    assert status.parts_expire_at % 86400 == 0
    in_two_days = time.time() + 2 * 86400
    assert expiry_warning(in_two_days) is None
    assert "resume it now" in (expiry_warning(time.time() + 3600) or "")
    assert "sends the file again" in (expiry_warning(time.time() - 60) or "")


def test_a_passing_failure_says_it_is_tried_again_and_a_final_one_what_to_do(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    def always_503(seen: Seen) -> Fault:
        return Fault.SLOW_DOWN_503 if seen.method == "PUT" else Fault.PASS

    with FaultProxy(always_503) as proxy, LocalStack(presign_endpoint=proxy.url) as local:
        proxy.upstream = local.s3_endpoint
        manager = make_manager(journal, local.token, max_attempts=3)
        seen = record_statuses(manager)
        upload_ref = add_one(manager, request(make_file("flaky.bin", MIB), local.api_url, "flaky.bin")).id
        status = wait_for(manager, upload_ref, ENDED)
    assert status.state is UploadState.FAILED
    assert "not tried again by itself" in (status.message or "")
    assert "will be" not in (status.message or "")
    retrying = [s.message for s in seen if s.state is UploadState.UPLOADING and s.message]
    assert any("sent again in" in m for m in retrying), retrying


def test_a_502_that_repeats_at_the_start_on_the_existing_deployment_is_final(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    """Its /initialize handler crashes without organizationId and objectRecordId in the metadata."""
    starts: list[str] = []
    with LocalStack(port=0, core_only=True) as local:
        handler = local.routes["/initialize"]

        def crash(event: dict[str, Any], context: Any) -> dict[str, Any]:
            if '"organizationId"' not in (event.get("body") or ""):
                starts.append(event.get("body") or "")
                return {"statusCode": 502, "body": '{"message": "Internal server error"}', "headers": {}}
            return handler(event, context)

        local.routes["/initialize"] = crash
        manager = make_manager(journal, local.token)
        seen = record_statuses(manager)
        no_metadata = UploadRequest(
            path=make_file("nometa.bin", 100), api_url=local.api_url, key="nometa.bin"
        )
        upload_ref = add_one(manager, no_metadata).id
        status = wait_for(manager, upload_ref, ENDED, timeout=60)
    assert status.state is UploadState.FAILED
    assert len([body for body in starts if body.strip() not in ("", "{}")]) == 3
    assert "3 times" in (status.message or "")
    assert "final" in (status.message or "")
    assert "organizationId" in (status.message or "")
    assert any("Trying again" in (s.message or "") for s in seen)


def test_a_keyboard_interrupt_in_the_callers_thread_leaves_the_journal_consistent(
    stack: LocalStack,
    journal: Journal,
    make_manager: MakeManager,
    make_file: MakeFile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manager = make_manager(journal, stack.token, bandwidth_limit=4 * MIB)
    path = make_file("interrupted.bin", 12 * MIB)

    def interrupt(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(manager._core.locks, "acquire", interrupt)  # Ctrl-C inside the journal's insert
    with pytest.raises(KeyboardInterrupt):
        add_one(manager, request(path, stack.api_url, "interrupted/add.bin"))
    monkeypatch.undo()
    assert journal.unfinished() == [], "a half-added upload stayed in the journal"
    assert manager.statuses() == []

    upload_ref = add_one(manager, request(path, stack.api_url, "interrupted/cancel.bin")).id
    wait_for(manager, upload_ref, {UploadState.UPLOADING})
    monkeypatch.setattr(ApiClient, "abort", lambda *_args: interrupt())  # Ctrl-C during the abort call
    with pytest.raises(KeyboardInterrupt):
        manager.cancel(upload_ref)
    assert journal.get(upload_ref).state is UploadState.CANCELLED  # type: ignore[union-attr]
    assert manager.status(upload_ref).state is UploadState.CANCELLED  # type: ignore[union-attr]
    assert manager.wait([upload_ref], timeout=5), "the engine kept working on a cancelled upload"

    resumable = add_one(manager, request(path, stack.api_url, "interrupted/wait.bin")).id
    with monkeypatch.context() as patch:
        patch.setattr(manager._core.lock, "wait", lambda *_args: interrupt())  # Ctrl-C while waiting
        with pytest.raises(KeyboardInterrupt):
            manager.wait([resumable])
    manager.pause_all()  # what the CLI does then
    assert journal.get(resumable).state is UploadState.PAUSED  # type: ignore[union-attr]
    manager.resume(resumable)
    status = wait_for(manager, resumable, ENDED)
    assert status.state is UploadState.DONE, status.message
    assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]
