"""What an upload's status means to the user: a word for the table, whether it needs a fix the window
offers, and the sentences of the details pane — in this one place, so the table, the details pane and
the actions agree.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtGui import QColor

from app.core.models import UploadState, UploadStatus
from app.gui.formatting import (
    human_duration,
    human_size,
    human_speed,
    moment_text,
    percent_text,
    plural,
    sentences,
)

if TYPE_CHECKING:
    from app.gui.upload_table_model import Summary

WARNING_COLOR = QColor("#c46a00")
# States whose text stands out: they wait for the user.
ATTENTION_COLORS = {
    UploadState.FAILED: QColor("#d03a3a"),
    UploadState.CONFLICT: WARNING_COLOR,
    UploadState.FILE_CHANGED: WARNING_COLOR,
    UploadState.FILE_MISSING: WARNING_COLOR,
    UploadState.NEEDS_SIGN_IN: WARNING_COLOR,
}
SENT_ELSEWHERE = "Sent elsewhere"  # another s3up window or command is sending it
_FILE_GONE = frozenset({UploadState.FILE_MISSING, UploadState.FILE_CHANGED})


def state_text(status: UploadStatus, now: float | None = None) -> str:
    """The status cell: the state's word, or what the engine is doing ("Checking 12 of 40 parts…"), and
    for a stopped upload whose parts the server deletes within a day, when."""
    if status.sent_elsewhere:
        return SENT_ELSEWHERE
    if status.activity:
        return status.activity
    if status.state is UploadState.DONE and status.link_verified is False:
        return "Done (link unchecked)"
    if status.state is UploadState.UPLOADING and status.bytes_done == 0:
        return "Starting…"  # waiting for a connection, or the upload is being set up
    expiry = expiry_text(status, now)
    return f"{status.state.label} · {expiry}" if expiry else status.state.label


def expiry_text(status: UploadStatus, now: float | None = None) -> str | None:
    """A few words for a stopped upload with the engine's expiry warning: "expires 09:00" (the warning
    comes within a day of it, so the time says when), or "parts expired" once it has passed (the details
    pane has the whole sentence, with the date)."""
    stopped = not status.state.is_active and not status.state.is_finished
    if not stopped or not status.expiry_warning or status.parts_expire_at is None:
        return None
    now = time.time() if now is None else now
    if status.parts_expire_at <= now:
        return "parts expired"
    return f"expires {time.strftime('%H:%M', time.localtime(status.parts_expire_at))}"


def attention_color(status: UploadStatus) -> QColor | None:
    """The colour of a status that waits for the user (or whose parts are about to be deleted)."""
    color = ATTENTION_COLORS.get(status.state)
    if color is None and expiry_text(status):
        return WARNING_COLOR
    return color


def state_tip(status: UploadStatus) -> str | None:
    """The status cell's tooltip: the check under way, then the details pane's sentences."""
    check = (
        f"Checking the parts sent before against the file: {status.parts_checked:,} of "
        f"{status.parts_to_check:,}"
        if status.checking
        else None
    )
    return sentences(check, advice(status)) or None


def shows_progress(status: UploadStatus) -> bool:
    """False where a bar would mislead: the file the bytes came from is gone or different."""
    return status.state not in _FILE_GONE


def waits_for_resume(status: UploadStatus) -> bool:
    """Paused by the user, or stopped until sign-in: what Resume continues (Retry is for failures)."""
    return status.state in (UploadState.PAUSED, UploadState.NEEDS_SIGN_IN)


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
    unfinished upload with parts on the server, until when the server keeps them)."""
    text = _advice(status)
    if status.state.is_finished:
        return text
    if status.expiry_warning:
        return sentences(text, status.expiry_warning)
    if status.parts_expire_at is not None and status.parts_done and not status.state.is_active:
        return sentences(
            text, f"The server keeps the parts sent so far until {moment_text(status.parts_expire_at)}"
        )
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
