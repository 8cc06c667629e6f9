"""Unfinished uploads read back from the journal when a process starts (or lists them).

Each is shown paused (or failed, signed out, waiting for a key decision, or its file changed or
missing) until the user resumes it. An upload the journal shows active was being sent when its process
stopped, or is being sent by another process now: its lock tells which. One another process is sending
is shown paused with a sentence that says so, and its journal entry is left to that process; for the
others the lock is held while their entry is corrected.

A whole journal is read in a few queries and corrected in one transaction, and each file is looked at
with one `stat` (its content is checked when it is resumed), so that 10,000 unfinished uploads load in
well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.core.fingerprint import quick_problem
from app.core.journal import Journal, JournalUpload
from app.core.models import UploadState
from app.core.ownership import BusyElsewhereError, UploadLocks
from app.core.planner import PartPlan, plan_parts
from app.core.states import ACTIVE_STATES
from app.core.upload import ActiveUpload

# States that say what the user has to do; the others are shown paused.
KEPT_AT_START = frozenset({UploadState.FAILED, UploadState.NEEDS_SIGN_IN, UploadState.CONFLICT})


def load_uploads(journal: Journal, locks: UploadLocks, listed: Sequence[JournalUpload]) -> list[ActiveUpload]:
    """The uploads as this process shows them now (those another process has just finished are left out)."""
    held: list[int] = []
    records: list[JournalUpload] = []
    elsewhere: dict[int, BusyElsewhereError] = {}
    try:
        for record in listed:
            if record.state not in ACTIVE_STATES:
                records.append(record)
                continue
            try:
                locks.acquire(record.id)  # held while its journal entry is read and corrected
            except BusyElsewhereError as busy:  # its journal entry is the owner's
                elsewhere[record.id] = busy
                records.append(record)
                continue
            held.append(record.id)
            fresh = journal.get(record.id)  # as it was when its process let it go
            if fresh is not None and not fresh.state.is_finished:
                records.append(fresh)
        parts = journal.parts_of([record.id for record in records])
        uploads, corrections = [], []
        for record in records:
            upload = ActiveUpload(
                record=record,
                plan=plan_of(record),
                done=parts.get(record.id, {}),
                state=UploadState.PAUSED,
                upload_id=record.upload_id,
                single=record.single,
                part_size_fixed=record.part_size_fixed,
            )
            if record.id in elsewhere:
                upload.message, upload.sent_elsewhere = elsewhere[record.id].message, True
            else:
                upload.state, upload.message = _shown_state(record)
                if upload.state is not record.state or upload.message != record.message:
                    corrections.append((record.id, upload.state, upload.message))
            upload.rebuild_pending()
            uploads.append(upload)
        journal.set_states(corrections)
        return uploads
    finally:
        for upload_ref in held:
            locks.release(upload_ref)


def _shown_state(record: JournalUpload) -> tuple[UploadState, str | None]:
    problem = quick_problem(record.path, record.identity)
    if problem:
        return (UploadState.FILE_MISSING if problem.missing else UploadState.FILE_CHANGED), problem.message
    if record.state in KEPT_AT_START:
        return record.state, record.message
    return UploadState.PAUSED, None


def plan_of(record: JournalUpload) -> PartPlan:
    """The part plan the journal has for the upload (a journal of version 1 kept 0 for automatic)."""
    return plan_parts(record.size, record.part_size or None)
