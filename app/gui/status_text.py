"""What an upload's status means to the user: a word for the table, a problem the window can offer a fix
for, and the sentences of the details pane.

The engine reports a state and a message; some situations need more than the state says (a file that
was deleted rather than changed, a key that is taken). `problem_of` reads them from the status alone, in
this one place, so the table, the details pane and the actions agree.
"""

from __future__ import annotations

import enum

from PySide6.QtGui import QColor

from app.core.models import UploadState, UploadStatus
from app.gui.formatting import human_duration, human_size, human_speed, percent_text, plural, sentences


class Problem(enum.Enum):
    """Why an upload waits for the user, when the state alone does not say."""

    KEY_EXISTS = "key_exists"  # the API refused the key: an object is already there
    FILE_MISSING = "file_missing"  # the file was deleted or moved away
    FILE_CHANGED = "file_changed"  # the file is there but is not the one being uploaded
    SENT_ELSEWHERE = "sent_elsewhere"  # another s3up process is sending it


# What the engine says (app.core.api and app.core.fingerprint) in these situations.
_KEY_EXISTS_WORDS = ("already exists at this key", "an object already exists at")
_MISSING_WORDS = ("no longer exists",)

_WORDS = {
    Problem.KEY_EXISTS: "Key exists",
    Problem.FILE_MISSING: "File missing",
    Problem.FILE_CHANGED: "File changed",
    Problem.SENT_ELSEWHERE: "Sent elsewhere",
}

# States and problems whose text stands out: they wait for the user.
ATTENTION_COLORS = {
    UploadState.FAILED: QColor("#d03a3a"),
    UploadState.FILE_CHANGED: QColor("#c46a00"),
    UploadState.NEEDS_SIGN_IN: QColor("#c46a00"),
}


def problem_of(status: UploadStatus) -> Problem | None:
    """The problem behind a status that waits for the user, or None."""
    if status.sent_elsewhere:
        return Problem.SENT_ELSEWHERE
    message = (status.message or "").lower()
    if status.state is UploadState.FILE_CHANGED:
        return Problem.FILE_MISSING if any(w in message for w in _MISSING_WORDS) else Problem.FILE_CHANGED
    if status.state is UploadState.FAILED and any(words in message for words in _KEY_EXISTS_WORDS):
        return Problem.KEY_EXISTS
    return None


def state_text(status: UploadStatus) -> str:
    """The status cell: the state's word, or the problem's."""
    problem = problem_of(status)
    if problem is not None:
        return _WORDS[problem]
    if status.state is UploadState.DONE and status.link_verified is False:
        return "Done (link unchecked)"
    if status.state is UploadState.UPLOADING and status.bytes_done == 0:
        return "Starting…"  # waiting for a connection, or the upload is being set up
    return status.state.label


def shows_progress(status: UploadStatus) -> bool:
    """False where a bar would mislead: the file the bytes came from is gone or different."""
    return problem_of(status) not in (Problem.FILE_MISSING, Problem.FILE_CHANGED)


def can_retry(status: UploadStatus) -> bool:
    """Retry helps: a failure that may pass, or a changed file that may have been put back."""
    if status.state not in (UploadState.FAILED, UploadState.FILE_CHANGED):
        return False
    return problem_of(status) is not Problem.KEY_EXISTS


def describe(status: UploadStatus) -> str:
    """One line on where the upload stands, e.g. "Uploading — 42 % of 1.2 GiB · 12 of 30 parts · 45 MiB/s"."""
    if shows_progress(status):
        pieces = [f"{state_text(status)} — {percent_text(status.fraction)} of {human_size(status.size)}"]
    else:
        pieces = [f"{state_text(status)} — {human_size(status.size)}"]
    if status.parts_total:
        pieces.append(f"{status.parts_done:,} of {status.parts_total:,} parts sent")
    if status.state is UploadState.DONE and status.link_verified is not None:
        pieces.append("link checked" if status.link_verified else "the link did not answer yet")
    if status.state is UploadState.UPLOADING:
        pieces += [text for text in (human_speed(status.speed), human_duration(status.eta)) if text]
        if status.eta is not None:
            pieces[-1] += " left"
    return " · ".join(pieces)


def advice(status: UploadStatus) -> str:
    """The details pane's sentences: what happened and what the user can do about it."""
    problem = problem_of(status)
    if problem is Problem.SENT_ELSEWHERE:
        return sentences(status.message)
    if problem is Problem.KEY_EXISTS:
        return sentences(
            f"An object already exists at the key “{status.key}”, so the API did not start this upload",
            "Choose Overwrite to replace that object, or Change Key… to upload the file under another key",
        )
    if problem is Problem.FILE_MISSING:
        return sentences(
            f"The file is no longer at {status.path}",
            "Put it back there and choose Retry to continue, or remove this upload from the list",
        )
    if problem is Problem.FILE_CHANGED:
        return sentences(status.message)
    if status.state is UploadState.FAILED:
        verb = "is" if status.parts_done == 1 else "are"
        kept = (
            f"Choose Retry to continue where it stopped: the {plural(status.parts_done, 'part')} already "
            f"sent {verb} kept"
            if status.parts_done
            else "Choose Retry to try again"
        )
        return sentences(status.message, kept)
    if status.state is UploadState.PAUSED:
        return sentences(status.message, "Choose Resume to continue where it stopped")
    if status.state is UploadState.NEEDS_SIGN_IN:
        return sentences(
            status.message, "Sign in again (Account ▸ Sign In…): the upload then continues by itself"
        )
    return sentences(status.message)
