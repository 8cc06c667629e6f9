"""Which job a free connection takes next: start, then parts in order (retries first), then finalize."""

from __future__ import annotations

from pathlib import Path

from app.core.jobs import JobKind
from app.core.journal import Journal
from app.core.models import MIB, UploadState
from app.core.planner import plan_parts
from app.core.scheduler import Slots, pick_job
from app.core.upload import ActiveUpload
from tests.core.test_journal import new_upload


def slots(per_file: int) -> Slots:
    return Slots(network=True, verify=True, per_file_connections=per_file)


def active(journal: Journal, size: int = 20 * MIB, state: UploadState = UploadState.QUEUED) -> ActiveUpload:
    record = new_upload(journal, size=size, part_size=5 * MIB)
    upload = ActiveUpload(record=record, plan=plan_parts(size, 5 * MIB), done={}, state=state)
    upload.rebuild_pending()
    return upload


def test_an_upload_is_started_before_its_parts_and_finalized_after(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        upload = active(journal)
        job, _ = pick_job([upload], slots(8), now=100.0)
        assert job is not None
        assert job.kind is JobKind.PREPARE
        assert pick_job([upload], slots(8), now=100.0) == (None, None), "one step at a time"
        upload.busy, upload.prepared = False, True
        numbers = []
        while (job := pick_job([upload], slots(8), now=100.0)[0]) is not None:
            numbers.append(job.part_number)
        assert numbers == [1, 2, 3, 4]
        upload.done = {n: object() for n in numbers}  # type: ignore[misc]
        assert pick_job([upload], slots(8), now=100.0) == (None, None), "parts still in flight"
        upload.in_flight.clear()
        job, _ = pick_job([upload], slots(8), now=100.0)
        assert job is not None
        assert job.kind is JobKind.FINALIZE


def test_per_file_cap_and_order_of_files(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        first, second = active(journal), active(journal)
        for upload in (first, second):
            upload.prepared = True
        jobs = [pick_job([first, second], slots(2), now=0.0)[0] for _ in range(4)]
        assert [(job.upload.id, job.part_number) for job in jobs if job] == [
            (first.id, 1),
            (first.id, 2),
            (second.id, 1),
            (second.id, 2),
        ]


def test_a_part_in_backoff_waits_then_goes_first(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        upload = active(journal, size=5 * MIB)
        upload.prepared = True
        upload.pending.clear()
        upload.retry_at[1] = 50.0
        assert pick_job([upload], slots(8), now=40.0) == (None, 50.0)
        job, _ = pick_job([upload], slots(8), now=50.0)
        assert job is not None
        assert job.part_number == 1


def test_paused_and_finished_uploads_get_no_jobs(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        uploads = [active(journal, state=state) for state in (UploadState.PAUSED, UploadState.DONE)]
        assert pick_job(uploads, slots(8), now=0.0) == (None, None)


def test_parts_sent_before_are_checked_beside_the_sending_and_finish_waits_for_them(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        upload = active(journal, size=15 * MIB)
        upload.prepared = True
        upload.done = {n: object() for n in (1, 2)}  # type: ignore[misc]
        upload.unverified = {1, 2}
        upload.rebuild_pending()
        kinds = [pick_job([upload], slots(8), now=0.0)[0] for _ in range(3)]
        assert [(job.kind, job.part_number) for job in kinds if job] == [
            (JobKind.VERIFY, 1),
            (JobKind.VERIFY, 2),
            (JobKind.PART, 3),
        ]
        no_check = Slots(network=True, verify=False, per_file_connections=8)
        upload.done[3] = object()  # type: ignore[assignment]
        upload.in_flight.clear()
        assert pick_job([upload], no_check, now=0.0) == (None, None), "finish waits for the checks"
        upload.verifying.clear()
        job, _ = pick_job([upload], no_check, now=0.0)
        assert job is not None
        assert job.kind is JobKind.FINALIZE
