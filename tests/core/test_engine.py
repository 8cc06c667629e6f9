"""The engine end to end against the real local stack, each object checked byte for byte via its link."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core import worker
from app.core.commands import Action, Command
from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, UploadState
from backend.local import LocalStack
from tests.core.adding import add_one
from tests.core.conftest import fetch, request, wait_for, wait_for_parts
from tests.fault_proxy import Fault, FaultProxy, Seen

MakeManager = Callable[..., UploadManager]
MakeFile = Callable[[str, int], Path]
DONE = {UploadState.DONE}
STOPPED = {UploadState.DONE, UploadState.FAILED, UploadState.FILE_CHANGED, UploadState.NEEDS_SIGN_IN}


def test_several_files_at_once_arrive_byte_identical(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    files = [
        make_file("empty.bin", 0),
        make_file("small.txt", 1234),
        make_file("three.bin", 12 * MIB + 5),
        make_file("four.bin", 17 * MIB),
    ]
    manager = make_manager(journal, stack.token)
    events: list[tuple[int, UploadState]] = []
    manager.subscribe(lambda status: events.append((status.id, status.state)))
    ids = [add_one(manager, request(path, stack.api_url, f"several/{path.name}")).id for path in files]
    assert manager.wait(ids, timeout=120)
    for upload_ref, path in zip(ids, files, strict=True):
        status = manager.status(upload_ref)
        assert status is not None
        assert status.state is UploadState.DONE, status.message
        assert status.link_verified is True
        assert status.url == f"{stack.cdn_base_url}/several/{path.name}"
        assert fetch(status.url) == path.read_bytes()
        assert journal.get(upload_ref).state is UploadState.DONE  # type: ignore[union-attr]
        assert (upload_ref, UploadState.FINALIZING) in events
    assert manager.status(ids[2]).parts_total == 3  # type: ignore[union-attr]


def test_pause_stops_within_a_second_and_resume_finishes(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    path = make_file("paused.bin", 30 * MIB)
    manager = make_manager(journal, stack.token, bandwidth_limit=6 * MIB)
    upload_ref = add_one(manager, request(path, stack.api_url, "pause/paused.bin")).id
    deadline = time.monotonic() + 30
    while manager.status(upload_ref).bytes_done < 8 * MIB:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    manager.pause(upload_ref)
    paused_at = time.monotonic()
    time.sleep(1.0)
    settled = journal_bytes(journal, upload_ref)
    time.sleep(1.5)
    assert journal_bytes(journal, upload_ref) == settled, "parts kept landing after the pause"
    assert manager.status(upload_ref).state is UploadState.PAUSED  # type: ignore[union-attr]
    assert time.monotonic() - paused_at < 5
    manager.resume(upload_ref)
    status = wait_for(manager, upload_ref, STOPPED, timeout=60)
    assert status.state is UploadState.DONE, status.message
    assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]


def base_url(local: LocalStack) -> str:
    return local.api_url.rsplit("/prod", 1)[0]


def journal_bytes(journal: Journal, upload_ref: int) -> int:
    return sum(part.size for part in journal.parts(upload_ref).values())


def test_survives_a_hostile_network(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile, tmp_path: Path
) -> None:
    """Resets mid-body, 500s, 503 SlowDown, slow answers, expired URLs and corrupted bodies on >= 15 %
    of part uploads: every object still ends byte-identical."""
    faults = [
        Fault.RESET_MID_BODY,
        Fault.ERROR_500,
        Fault.SLOW_DOWN_503,
        Fault.SLOW_ANSWER,
        Fault.EXPIRED,
        Fault.CORRUPT,
    ]
    lock = threading.Lock()
    seen_puts = 0

    def decide(seen: Seen) -> Fault:
        nonlocal seen_puts
        if seen.method != "PUT" or "partNumber=" not in seen.path:
            return Fault.PASS
        with lock:
            seen_puts += 1
            return (
                faults[(seen_puts // 2) % len(faults)] if seen_puts % 2 == 0 else Fault.PASS
            )  # every other one

    with FaultProxy(decide, slow_seconds=0.5) as proxy, LocalStack(presign_endpoint=proxy.url) as local:
        proxy.upstream = local.s3_endpoint  # presigned URLs name the proxy, which forwards to S3
        files = [make_file(f"hostile{i}.bin", size) for i, size in enumerate((20 * MIB, 16 * MIB, 9 * MIB))]
        manager = make_manager(journal, local.token)
        ids = [add_one(manager, request(path, local.api_url, f"hostile/{path.name}")).id for path in files]
        assert manager.wait(ids, timeout=180)
        for upload_ref, path in zip(ids, files, strict=True):
            status = manager.status(upload_ref)
            assert status.state is UploadState.DONE, status.message  # type: ignore[union-attr]
            assert fetch(status.url) == path.read_bytes()  # type: ignore[union-attr, arg-type]
        part_requests = sum(proxy.counts.values())
        failed = part_requests - proxy.counts[Fault.PASS] - proxy.counts[Fault.SLOW_ANSWER]
        print(f"part requests {part_requests}, faults {dict(proxy.counts)}")
        assert failed / part_requests >= 0.15
        assert all(proxy.counts[fault] > 0 for fault in faults)


def test_expired_urls_are_signed_again_without_spending_retries(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    expired_once: set[str] = set()

    def decide(seen: Seen) -> Fault:
        part = seen.path.split("partNumber=")[1].split("&")[0] if "partNumber=" in seen.path else None
        if seen.method == "PUT" and part and part not in expired_once:
            expired_once.add(part)
            return Fault.EXPIRED
        return Fault.PASS

    with FaultProxy(decide) as proxy, LocalStack(presign_endpoint=proxy.url) as local:
        proxy.upstream = local.s3_endpoint
        path = make_file("expiring.bin", 16 * MIB)
        manager = make_manager(journal, local.token, max_attempts=1)  # any counted failure would fail it
        upload_ref = add_one(manager, request(path, local.api_url, "expiring/expiring.bin")).id
        status = wait_for(manager, upload_ref, STOPPED)
        assert status.state is UploadState.DONE, status.message
        assert proxy.counts[Fault.EXPIRED] == 4
        assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]


def test_revoked_token_waits_for_sign_in_then_finishes(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    with LocalStack(port=0, principal="alice") as local:
        tokens = {"current": local.token}
        path = make_file("revoked.bin", 25 * MIB)
        manager = make_manager(
            journal, lambda _url: tokens["current"], bandwidth_limit=8 * MIB, per_file_connections=1
        )
        upload_ref = add_one(manager, request(path, local.api_url, "revoked/revoked.bin")).id
        wait_for(manager, upload_ref, {UploadState.UPLOADING})
        local.revoke_token(local.token)
        status = wait_for(manager, upload_ref, STOPPED)
        assert status.state is UploadState.NEEDS_SIGN_IN
        assert "token" in (status.message or "")
        tokens["current"] = local.issue_token(principal="alice", organization_id="local-org")
        manager.credentials_changed(local.api_url)
        status = wait_for(manager, upload_ref, STOPPED)
        assert status.state is UploadState.DONE, status.message
        assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]


def test_restart_resumes_with_reconciliation(
    stack: LocalStack,
    journal: Journal,
    make_manager: MakeManager,
    make_file: MakeFile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a restart the upload is listed paused with its progress; S3's parts win over the journal's."""
    path = make_file("restart.bin", 26 * MIB)
    first = make_manager(journal, stack.token, bandwidth_limit=10 * MIB, per_file_connections=1)
    upload_ref = add_one(first, request(path, stack.api_url, "restart/restart.bin")).id
    wait_for_parts(journal, upload_ref, 3)
    first.shutdown()
    recorded = journal.parts(upload_ref)
    # The process "died" between sending part 2 and recording it, and part 3 was lost on the server side:
    journal.forget_parts(upload_ref, [2])
    journal.record_part(upload_ref, 4, '"00000000000000000000000000000000"', 5 * MIB)

    sent_offsets: list[int] = []
    real_send_part = worker.send_part

    def send_part(*args: object, **kwargs: object) -> object:
        sent_offsets.append(args[3])  # type: ignore[arg-type]
        return real_send_part(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(worker, "send_part", send_part)
    second = make_manager(journal, stack.token)
    restored = {status.id: status for status in second.restore()}
    assert restored[upload_ref].state is UploadState.PAUSED
    assert restored[upload_ref].bytes_done >= 2 * 5 * MIB
    second.resume(upload_ref)
    status = wait_for(second, upload_ref, STOPPED)
    assert status.state is UploadState.DONE, status.message
    assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]
    sent = {offset // (5 * MIB) + 1 for offset in sent_offsets}
    assert not sent & set(recorded), "parts S3 had were sent again (part 2 must be adopted from S3)"
    assert 4 in sent or 4 in recorded, "a part the journal claimed but S3 lacks must be sent"


def test_changed_file_is_refused_on_resume(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    path = make_file("changing.bin", 12 * MIB)
    manager = make_manager(journal, stack.token, bandwidth_limit=4 * MIB)
    upload_ref = add_one(manager, request(path, stack.api_url, "changing/changing.bin")).id
    wait_for(manager, upload_ref, {UploadState.UPLOADING})
    manager.pause(upload_ref)
    with path.open("r+b") as file:
        file.write(b"changed")
    manager.resume(upload_ref)
    status = manager.status(upload_ref)
    assert status.state is UploadState.FILE_CHANGED  # type: ignore[union-attr]
    assert "modified" in (status.message or "")  # type: ignore[union-attr]
    path.unlink()
    manager.execute(Command(Action.RETRY, (upload_ref,)))  # the app's Retry
    assert "no longer exists" in (manager.status(upload_ref).message or "")  # type: ignore[union-attr]


def test_cancel_aborts_the_multipart_upload(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    path = make_file("cancel.bin", 20 * MIB)
    manager = make_manager(journal, stack.token, bandwidth_limit=4 * MIB)
    upload_ref = add_one(manager, request(path, stack.api_url, "cancel/cancel.bin")).id
    status = wait_for(manager, upload_ref, {UploadState.UPLOADING})
    upload_id = manager.status(upload_ref).upload_id  # type: ignore[union-attr]
    manager.cancel(upload_ref)
    assert manager.status(upload_ref).state is UploadState.CANCELLED  # type: ignore[union-attr]
    uploads = stack.s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", [])
    assert upload_id not in {u["UploadId"] for u in uploads}
    assert journal.parts(status.id) == {}


def test_existing_deployment_fallback_with_expiring_url_lists(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    """Core routes only: all URLs from `parts: N`, asked again when they expire; link from the CDN base."""
    presign_calls: list[str] = []

    def decide(seen: Seen) -> Fault:
        if seen.path.endswith("/getPreSignedUrls"):
            presign_calls.append(seen.path)
        return Fault.PASS

    with (
        LocalStack(port=0, core_only=True, url_expiry=3) as local,
        FaultProxy(decide, base_url(local)) as api,
    ):
        path = make_file("legacy.bin", 20 * MIB)
        manager = make_manager(journal, local.token, bandwidth_limit=3 * MIB, per_file_connections=1)
        upload_ref = add_one(
            manager, request(path, f"{api.url}/prod", "legacy/legacy.bin", cdn_base_url=local.cdn_base_url)
        ).id
        status = wait_for(manager, upload_ref, STOPPED, timeout=90)
        assert status.state is UploadState.DONE, status.message
        assert status.url == f"{local.cdn_base_url}/legacy/legacy.bin"
        assert status.link_verified is True
        assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]
        assert len(presign_calls) >= 2, "the URL list was never asked for again"


def test_existing_deployment_timeout_replans_with_fewer_parts(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    """Signing many URLs in one call times out there (502/504): fewer, larger parts are planned."""
    lock = threading.Lock()
    sizes: list[int] = []

    def decide(seen: Seen) -> Fault:
        if seen.path.endswith("/getPreSignedUrls"):
            with lock:
                sizes.append(seen.length)
                return Fault.GATEWAY_TIMEOUT_504 if len(sizes) == 1 else Fault.PASS
        return Fault.PASS

    with LocalStack(port=0, core_only=True) as local, FaultProxy(decide, base_url(local)) as api:
        path = make_file("replan.bin", 40 * MIB)
        manager = make_manager(journal, local.token, part_size=None)
        upload_ref = add_one(manager, request(path, f"{api.url}/prod", "replan/replan.bin")).id
        status = wait_for(manager, upload_ref, STOPPED, timeout=90)
        assert status.state is UploadState.DONE, status.message
        assert status.parts_total == 1  # 40 MiB: 3 parts of 16 MiB first, then half as many: 1 of 40 MiB
        assert status.url is None  # no CDN base URL configured, and this API returns none
        assert journal.get(upload_ref).part_size == 40 * MIB  # type: ignore[union-attr]
        assert len(sizes) == 2  # the failed call, then one for the new plan


@pytest.mark.parametrize("connections", [1, 3])
def test_memory_and_concurrency_caps(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile, connections: int
) -> None:
    path = make_file(f"caps{connections}.bin", 21 * MIB)
    manager = make_manager(journal, stack.token, max_connections=connections, per_file_connections=8)
    peak = 0

    def watch(_status: object) -> None:
        nonlocal peak
        core = manager._core
        with core.lock:
            peak = max(peak, *(len(u.in_flight) for u in core.uploads.values()))

    manager.subscribe(watch)
    upload_ref = add_one(manager, request(path, stack.api_url, f"caps/{path.name}")).id
    status = wait_for(manager, upload_ref, STOPPED)
    assert status.state is UploadState.DONE
    assert 1 <= peak <= connections
