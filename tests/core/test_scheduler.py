"""Which job a free worker takes next: starts (alone or in batches), parts in order (retries first),
checks of the parts sent before, finishes (alone or in batches)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.core.jobs import JobKind
from app.core.journal import Journal
from app.core.models import MIB, UploadState
from app.core.planner import plan_parts
from app.core.scheduler import FINISH_DELAY, Slots, pick_job
from app.core.upload import ActiveUpload
from tests.core.test_journal import new_upload

PER_FILE = Slots(
    network=True, verify=True, per_file_connections=8, start_window=100, batch_size=lambda _url: 1
)


def slots(**changes: Any) -> Slots:
    return replace(PER_FILE, **changes)


def active(journal: Journal, size: int = 20 * MIB, state: UploadState = UploadState.QUEUED) -> ActiveUpload:
    record = new_upload(journal, size=size, part_size=5 * MIB)
    upload = ActiveUpload(record=record, plan=plan_parts(size, 5 * MIB), done={}, state=state)
    upload.rebuild_pending()
    return upload


def started(upload: ActiveUpload, upload_id: str = "u") -> ActiveUpload:
    upload.busy, upload.prepared, upload.upload_id = False, True, upload_id
    return upload


def test_an_upload_is_started_before_its_parts_and_finalized_after(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        upload = active(journal)
        job, _ = pick_job([], [upload], PER_FILE, now=100.0)
        assert job is not None
        assert job.kind is JobKind.PREPARE
        assert pick_job([], [upload], PER_FILE, now=100.0) == (None, None), "one step at a time"
        started(upload)
        numbers = []
        while (job := pick_job([upload], [upload], PER_FILE, now=100.0)[0]) is not None:
            numbers.append(job.part_number)
        assert numbers == [1, 2, 3, 4]
        upload.done = {n: object() for n in numbers}  # type: ignore[misc]
        assert pick_job([upload], [upload], PER_FILE, now=100.0) == (None, None), "parts still in flight"
        upload.in_flight.clear()
        job, _ = pick_job([upload], [upload], PER_FILE, now=100.0)
        assert job is not None
        assert job.kind is JobKind.FINALIZE


def test_per_file_cap_and_order_of_files(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        first, second = started(active(journal)), started(active(journal))
        jobs = [pick_job([first, second], [], slots(per_file_connections=2), now=0.0)[0] for _ in range(4)]
        assert [(job.upload.id, job.part_number) for job in jobs if job] == [
            (first.id, 1),
            (first.id, 2),
            (second.id, 1),
            (second.id, 2),
        ]


def test_a_part_says_how_many_more_could_go_now(tmp_path: Path) -> None:
    """The dispatcher learns from this that more work waits than connections (`parts_behind`): with
    long parts, a worker back from its part always finds its own connection free."""
    with Journal(tmp_path / "j.sqlite3") as journal:
        first, second = started(active(journal)), started(active(journal, size=10 * MIB))
        behind = []
        while (job := pick_job([first, second], [], PER_FILE, now=0.0)[0]) is not None:
            behind.append(job.parts_behind)
        assert behind == [5, 4, 3, 2, 1, 0]  # 4 parts of the first file, then 2 of the second


def test_a_part_in_backoff_waits_then_goes_first(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        upload = started(active(journal, size=5 * MIB))
        upload.pending.clear()
        upload.retry_at[1] = 50.0
        assert pick_job([upload], [], PER_FILE, now=40.0) == (None, 50.0)
        job, _ = pick_job([upload], [], PER_FILE, now=50.0)
        assert job is not None
        assert job.part_number == 1


def test_paused_and_finished_uploads_get_no_jobs(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        uploads = [active(journal, state=state) for state in (UploadState.PAUSED, UploadState.DONE)]
        assert pick_job(uploads, uploads, PER_FILE, now=0.0) == (None, None)


def test_parts_sent_before_are_checked_beside_the_sending_and_finish_waits_for_them(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        upload = started(active(journal, size=15 * MIB))
        upload.done = {n: object() for n in (1, 2)}  # type: ignore[misc]
        upload.unverified = {1, 2}
        upload.rebuild_pending()
        kinds = [pick_job([upload], [], PER_FILE, now=0.0)[0] for _ in range(3)]
        assert [(job.kind, job.part_number) for job in kinds if job] == [
            (JobKind.VERIFY, 1),
            (JobKind.VERIFY, 2),
            (JobKind.PART, 3),
        ]
        no_check = slots(verify=False)
        upload.done[3] = object()  # type: ignore[assignment]
        upload.in_flight.clear()
        assert pick_job([upload], [], no_check, now=0.0) == (None, None), "finish waits for the checks"
        upload.verifying.clear()
        job, _ = pick_job([upload], [], no_check, now=0.0)
        assert job is not None
        assert job.kind is JobKind.FINALIZE


def test_a_folder_is_started_in_full_batches_within_the_window(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        files = [active(journal, size=1000) for _ in range(7)]
        batches = slots(batch_size=lambda _url: 3, start_window=5)
        first, _ = pick_job([], files, batches, now=0.0)
        assert first is not None
        assert first.kind is JobKind.START_BATCH
        assert [u.id for u in first.uploads] == [f.id for f in files[:3]]
        assert pick_job([], files, replace(batches, start_window=2), now=0.0) == (None, None), (
            "a batch goes when the window holds all of it, not a few files at a time"
        )
        assert pick_job([], files, replace(batches, start_batch=False), now=0.0) == (None, None), (
            "no start batch slot free"
        )
        second, _ = pick_job([], files, batches, now=0.0)
        assert second is not None
        assert [u.id for u in second.uploads] == [f.id for f in files[3:6]]
        last, _ = pick_job([], files, batches, now=0.0)
        assert last is not None
        assert [u.id for u in last.uploads] == [files[6].id], "the last files go in a batch of their own"


def test_finishes_go_in_batches_on_their_own_slots(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        files = [active(journal, size=1000) for _ in range(5)]
        for upload in files:
            started(upload)
            upload.done = {1: object()}  # type: ignore[dict-item]
            upload.pending.clear()
        batches = slots(batch_size=lambda _url: 3, network=False)
        assert pick_job(files, files, replace(batches, finish_batch=False), now=0.0) == (None, None)
        finish, _ = pick_job(files, files, batches, now=0.0)
        assert finish is not None
        assert finish.kind is JobKind.FINISH_BATCH, "no connection to S3 is needed to finish"
        assert [u.id for u in finish.uploads] == [f.id for f in files[:3]]
        rest, wake_at = pick_job(files, files, replace(batches, unstarted=1), now=0.1)
        assert rest is None, "two files wait for company while more are on their way"
        assert wake_at is not None
        assert wake_at == pytest.approx(FINISH_DELAY), "counted from when they were first seen ready"
        rest, _ = pick_job(files, files, replace(batches, unstarted=1), now=wake_at)
        assert rest is not None
        assert [u.id for u in rest.uploads] == [f.id for f in files[3:]]


def test_an_api_of_unknown_kind_is_probed_by_one_start_while_the_others_wait(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        files = [active(journal, size=1000) for _ in range(3)]
        unknown = slots(batch_size=lambda _url: None)
        first, _ = pick_job([], files, unknown, now=0.0)
        assert first is not None
        assert first.kind is JobKind.PREPARE
        assert pick_job([], files, unknown, now=0.0) == (None, None)


def test_the_next_files_are_started_while_the_last_parts_go(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        sending = started(active(journal, size=5 * MIB))
        waiting = active(journal, size=1000)
        just_in_time = pick_job([sending], [sending, waiting], PER_FILE, now=0.0)[0]
        assert just_in_time is not None
        assert just_in_time.kind is JobKind.PART
        sending.pending.extend([1])
        sending.in_flight.clear()
        ahead = pick_job([sending], [sending, waiting], slots(prefetch_below=4), now=0.0)[0]
        assert ahead is not None
        assert ahead.kind is JobKind.PREPARE
        assert ahead.upload is waiting
