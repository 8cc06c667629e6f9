"""What an upload's status means to the user: a word for the table, whether it needs a fix the window
offers, and the sentences of the details pane — in this one place, so the table, the details pane and
the actions agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QColor

from app.core.models import UploadState, UploadStatus
from app.gui.formatting import human_duration, human_size, human_speed, percent_text, plural, sentences

if TYPE_CHECKING:
    from app.gui.upload_table_model import Summary

# States whose text stands out: they wait for the user.
ATTENTION_COLORS = {
    UploadState.FAILED: QColor("#d03a3a"),
    UploadState.CONFLICT: QColor("#c46a00"),
    UploadState.FILE_CHANGED: QColor("#c46a00"),
    UploadState.FILE_MISSING: QColor("#c46a00"),
    UploadState.NEEDS_SIGN_IN: QColor("#c46a00"),
}
SENT_ELSEWHERE = "Sent elsewhere"  # another s3up window or command is sending it
_FILE_GONE = frozenset({UploadState.FILE_MISSING, UploadState.FILE_CHANGED})


def state_text(status: UploadStatus) -> str:
    """The status cell: the state's word (with a hint when a finished link could not be checked)."""
    if status.sent_elsewhere:
        return SENT_ELSEWHERE
    if status.state is UploadState.DONE and status.link_verified is False:
        return "Done (link unchecked)"
    if status.state is UploadState.UPLOADING and status.bytes_done == 0:
        return "Starting…"  # waiting for a connection, or the upload is being set up
    return status.state.label


def shows_progress(status: UploadStatus) -> bool:
    """False where a bar would mislead: the file the bytes came from is gone or different."""
    return status.state not in _FILE_GONE


def can_retry(status: UploadStatus) -> bool:
    """Retry helps: a failure that may pass, or a changed file that may have been put back."""
    return status.state in (UploadState.FAILED, *_FILE_GONE)


def is_conflict(status: UploadStatus) -> bool:
    """An object exists at the key: Overwrite or Change Key… resolve it (Retry would fail the same way)."""
    return status.state is UploadState.CONFLICT


def describe(status: UploadStatus) -> str:
    """One line on where the upload stands, e.g. "Uploading — 42 % of 1.2 GiB · 12 of 30 parts · 45 MiB/s"."""
    if shows_progress(status):
        pieces = [f"{state_text(status)} — {percent_text(status.fraction)} of {human_size(status.size)}"]
    else:
        pieces = [f"{state_text(status)} — {human_size(status.size)}"]
    if status.parts_total:
        pieces.append(f"{status.parts_done:,} of {status.parts_total:,} parts sent")
    if status.checking:
        pieces.append(
            f"checking the parts sent before: {status.parts_checked:,} of {status.parts_to_check:,}"
        )
    if status.state is UploadState.DONE and status.link_verified is not None:
        pieces.append("link checked" if status.link_verified else "the link did not answer yet")
    if status.state is UploadState.UPLOADING:
        pieces += [text for text in (human_speed(status.speed), human_duration(status.eta)) if text]
        if status.eta is not None:
            pieces[-1] += " left"
    return " · ".join(pieces)


def advice(status: UploadStatus) -> str:
    """The details pane's sentences: what happened and what the user can do about it (and, for an
    unfinished upload, when the API deletes the parts already sent)."""
    text = _advice(status)
    if status.expiry_warning and not status.state.is_finished:
        return sentences(text, status.expiry_warning)
    return text


def _advice(status: UploadStatus) -> str:
    if status.sent_elsewhere:
        return sentences(status.message)
    if status.state is UploadState.CONFLICT:
        return sentences(
            f"An object already exists at the key “{status.key}”",
            "Choose Overwrite to replace that object, or Change Key… to upload the file under another key",
        )
    if status.state is UploadState.FILE_MISSING:
        return sentences(
            f"The file is no longer at {status.path}",
            "Put it back there and choose Retry to continue, or remove this upload from the list",
        )
    if status.state is UploadState.FILE_CHANGED:
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


def summary_text(summary: Summary) -> str:
    """The status bar: counts by what they wait for, then the bytes of the unfinished uploads."""
    if not summary.total:
        return "No uploads yet"
    counts = [
        (summary.active, "uploading"),
        (summary.paused, "paused"),
        (summary.attention, "need attention" if summary.attention > 1 else "needs attention"),
        (summary.done, "done"),
        (summary.cancelled, "cancelled"),
    ]
    text = ", ".join(f"{count:,} {word}" for count, word in counts if count)
    if summary.size:
        text += f"  ·  {human_size(summary.sent)} of {human_size(summary.size)} sent"
    if summary.active:
        text += f"  ·  {human_speed(summary.speed) or 'starting…'}"
        if summary.eta is not None:
            text += f"  ·  {human_duration(summary.eta)} left"
    return text
