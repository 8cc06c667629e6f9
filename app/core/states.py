"""An upload's states and the one table of the transitions between them.

Every state change of the engine goes through `next_state(state, event)`: an event that the table does
not allow from the current state changes nothing (a part that fails after the user paused leaves the
upload paused). The sets of active, terminal and resumable states are defined here and nowhere else.
"""

from __future__ import annotations

import enum


class UploadState(enum.Enum):
    """Where an upload is in its life. The value is what the journal stores."""

    QUEUED = "queued"  # accepted, waiting for a connection slot
    UPLOADING = "uploading"
    PAUSED = "paused"  # stopped by the user (or found unfinished at start); resume() continues
    NEEDS_SIGN_IN = "needs_sign_in"  # the API answered 401; continues by itself after sign-in
    FINALIZING = "finalizing"  # all parts sent; completing and checking the link
    DONE = "done"
    FAILED = "failed"  # gave up after retries or on a permanent error; retry() continues
    CANCELLED = "cancelled"  # the user cancelled; the multipart upload was aborted
    FILE_CHANGED = "file_changed"  # the file was changed since the upload began
    FILE_MISSING = "file_missing"  # the file was deleted or moved (or cannot be read) since it began
    CONFLICT = "conflict"  # an object exists at the key; resolve_conflict() overwrites or renames

    @property
    def is_active(self) -> bool:
        """True while the engine is working on it (or about to)."""
        return self in ACTIVE_STATES

    @property
    def is_finished(self) -> bool:
        """True when nothing more will happen to it."""
        return self in TERMINAL_STATES

    @property
    def can_resume(self) -> bool:
        """True when resume()/resume_all() would make progress without the user changing anything."""
        return self in RESUMABLE_STATES

    @property
    def label(self) -> str:
        """A short word for a table cell."""
        return _LABELS[self]


ACTIVE_STATES = frozenset({UploadState.QUEUED, UploadState.UPLOADING, UploadState.FINALIZING})
TERMINAL_STATES = frozenset({UploadState.DONE, UploadState.CANCELLED})
RESUMABLE_STATES = frozenset({UploadState.PAUSED, UploadState.FAILED, UploadState.NEEDS_SIGN_IN})
# Stopped until the user acts: resume() checks the file again, resolve_conflict() changes the request.
WAITING_FOR_USER = frozenset({UploadState.FILE_CHANGED, UploadState.FILE_MISSING, UploadState.CONFLICT})
STOPPED_STATES = RESUMABLE_STATES | WAITING_FOR_USER
assert frozenset(UploadState) == ACTIVE_STATES | TERMINAL_STATES | STOPPED_STATES

_LABELS = {
    UploadState.QUEUED: "Queued",
    UploadState.UPLOADING: "Uploading",
    UploadState.PAUSED: "Paused",
    UploadState.NEEDS_SIGN_IN: "Needs sign-in",
    UploadState.FINALIZING: "Finalizing",
    UploadState.DONE: "Done",
    UploadState.FAILED: "Failed",
    UploadState.CANCELLED: "Cancelled",
    UploadState.FILE_CHANGED: "File changed",
    UploadState.FILE_MISSING: "File missing",
    UploadState.CONFLICT: "Key exists",
}


class Event(enum.Enum):
    """What happens to an upload; `TRANSITIONS` says from which states, and to which state."""

    QUEUE = "queue"  # the user resumes, retries or resolves it; a sign-in came back
    SEND = "send"  # its first part goes
    FINALIZE = "finalize"  # every part is sent (and checked): completing it
    RESEND = "resend"  # completing found parts missing: back to sending them
    FINISH = "finish"  # completed, link checked
    PAUSE = "pause"  # the user paused it
    FAIL = "fail"  # a permanent error, or retries ran out
    SIGN_IN = "sign_in"  # the API refused the token
    FILE_CHANGED = "file_changed"
    FILE_MISSING = "file_missing"
    CONFLICT = "conflict"  # an object exists at its key (and overwriting was not asked for)
    CANCEL = "cancel"  # the user cancelled it
    FINISHED_ELSEWHERE = "finished_elsewhere"  # another s3up process finished it
    CANCELLED_ELSEWHERE = "cancelled_elsewhere"  # another s3up process cancelled it


_NOT_FINISHED = ACTIVE_STATES | STOPPED_STATES
TRANSITIONS: dict[Event, tuple[frozenset[UploadState], UploadState]] = {
    Event.QUEUE: (STOPPED_STATES, UploadState.QUEUED),
    Event.SEND: (frozenset({UploadState.QUEUED}), UploadState.UPLOADING),
    Event.FINALIZE: (frozenset({UploadState.QUEUED, UploadState.UPLOADING}), UploadState.FINALIZING),
    Event.RESEND: (frozenset({UploadState.FINALIZING}), UploadState.UPLOADING),
    Event.FINISH: (frozenset({UploadState.FINALIZING}), UploadState.DONE),
    Event.PAUSE: (ACTIVE_STATES, UploadState.PAUSED),
    Event.FAIL: (ACTIVE_STATES, UploadState.FAILED),
    Event.SIGN_IN: (ACTIVE_STATES, UploadState.NEEDS_SIGN_IN),
    Event.FILE_CHANGED: (_NOT_FINISHED, UploadState.FILE_CHANGED),
    Event.FILE_MISSING: (_NOT_FINISHED, UploadState.FILE_MISSING),
    Event.CONFLICT: (ACTIVE_STATES, UploadState.CONFLICT),
    Event.CANCEL: (_NOT_FINISHED, UploadState.CANCELLED),
    Event.FINISHED_ELSEWHERE: (_NOT_FINISHED, UploadState.DONE),
    Event.CANCELLED_ELSEWHERE: (_NOT_FINISHED, UploadState.CANCELLED),
}
assert set(TRANSITIONS) == set(Event)


def next_state(state: UploadState, event: Event) -> UploadState | None:
    """The state `event` leads to from `state`, or None when it does not apply there."""
    sources, target = TRANSITIONS[event]
    return target if state in sources else None
