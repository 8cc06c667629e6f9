"""Unfinished uploads read back from the journal when a process starts (or lists them).

Each is shown paused (or failed, signed out, or its file changed) until the user resumes it. An upload
another process is sending is shown paused with a sentence that says so, and its journal entry is left
to that process; for the others the lock is held while their entry is read and corrected.
"""

from __future__ import annotations

from app.core.fingerprint import file_problem
from app.core.journal import Journal, JournalUpload
from app.core.models import UploadState
from app.core.ownership import BusyElsewhereError, UploadLocks
from app.core.planner import PartPlan, plan_parts
from app.core.upload import ActiveUpload

# States that say what the user has to do; the others are shown paused.
KEPT_AT_START = frozenset({UploadState.FAILED, UploadState.NEEDS_SIGN_IN, UploadState.CONFLICT})


def load_upload(journal: Journal, locks: UploadLocks, listed: JournalUpload) -> ActiveUpload | None:
    """The upload as this process shows it now; None when another process has just finished it."""
    try:
        locks.acquire(listed.id)  # held while its journal entry is read and corrected
    except BusyElsewhereError as busy:  # shown as paused here; its journal entry is the owner's
        upload = ActiveUpload(
            record=listed,
            plan=plan_of(listed),
            done=journal.parts(listed.id),
            state=UploadState.PAUSED,
            message=busy.message,
            upload_id=listed.upload_id,
            sent_elsewhere=True,
        )
        upload.rebuild_pending()
        return upload
    try:
        record = journal.get(listed.id)
        if record is None or record.state.is_finished:
            return None
        problem = file_problem(record.path, record.identity)
        if problem:
            state = UploadState.FILE_MISSING if problem.missing else UploadState.FILE_CHANGED
            message: str | None = problem.message
        elif record.state in KEPT_AT_START:
            state, message = record.state, record.message
        else:
            state, message = UploadState.PAUSED, None
        if state is not record.state or message != record.message:
            journal.set_state(record.id, state, message)
        upload = ActiveUpload(
            record=record,
            plan=plan_of(record),
            done=journal.parts(record.id),
            state=state,
            message=message,
            upload_id=record.upload_id,
            part_size_fixed=record.part_size_fixed,
        )
        upload.rebuild_pending()
        return upload
    finally:
        locks.release(listed.id)


def plan_of(record: JournalUpload) -> PartPlan:
    """The part plan the journal has for the upload (a journal of version 1 kept 0 for automatic)."""
    return plan_parts(record.size, record.part_size or None)
