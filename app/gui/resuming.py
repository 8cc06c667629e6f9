"""Which of the uploads restored from the journal go on by themselves, and what the status bar says of
them: at start, those that were running when the user chose Pause and Quit; after the engine process
died, those that were running or being added then (and those kept for the next start)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.core.models import UploadState, UploadStatus
from app.gui.formatting import plural


@dataclass(frozen=True)
class Resumption:
    resuming: list[int]  # restored paused, resumed now
    noticed: set[int]  # paused from last time: the status bar says so while one of them waits
    message: str | None  # for the status bar
    message_ms: int = 0  # how long it shows; 0: until the next message


def plan_resumption(restored: list[UploadStatus], to_resume: set[int], *, after_crash: bool) -> Resumption:
    resuming = [s.id for s in restored if s.id in to_resume and s.state is UploadState.PAUSED]
    waiting = {s.id for s in restored if s.id not in resuming and s.state.can_resume}
    if waiting and not after_crash:  # after the engine died, those were paused before it did
        waits = f"{plural(len(waiting), 'unfinished upload')} from last time, paused."
        return Resumption(resuming, waiting, f"{waits} Choose Resume All to continue.")
    if not resuming:
        return Resumption(resuming, set(), None)
    when = "the upload engine stopped unexpectedly" if after_crash else "s3up quit"
    verb = "was" if len(resuming) == 1 else "were"
    return Resumption(
        resuming,
        set(),
        f"Continuing {plural(len(resuming), 'upload')} that {verb} running when {when}.",
        15000,
    )


def running_when_engine_died(
    shown: Iterable[UploadStatus], restored: list[UploadStatus], kept: Iterable[int]
) -> set[int]:
    """What a new engine should resume: the uploads the window showed running, those it had not listed yet
    (being added), and those kept for the next start."""
    shown_by_id = {s.id: s for s in shown}
    running = {upload_id for upload_id, s in shown_by_id.items() if s.state.is_active}
    unlisted = {s.id for s in restored if s.id not in shown_by_id}
    return running | unlisted | set(kept)
