"""Which of the uploads restored from the journal go on by themselves, and what the status bar says of
them: at start, those that were running when the user chose Pause and Quit; after the engine process
died, those that were running or being added then (and those kept for the next start), unless the user
paused them; and which files of a folder being added the dead engine had recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from app.core.models import UploadRequest, UploadState, UploadStatus
from app.gui.commands import Action, Command, PauseAll, ResumeAll, UploadsCommand
from app.gui.formatting import plural

CLOCK_SLACK = 1.0  # seconds: a record made as the call began may carry a time a little before its start


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
    shown: Iterable[UploadStatus],
    restored: list[UploadStatus],
    kept: Iterable[int],
    paused_by_user: Iterable[int] = (),
) -> set[int]:
    """What a new engine should resume: the uploads the window showed running, those it had not listed yet
    (being added), and those kept for the next start; but none the user paused."""
    shown_by_id = {s.id: s for s in shown}
    running = {upload_id for upload_id, s in shown_by_id.items() if s.state.is_active}
    unlisted = {s.id for s in restored if s.id not in shown_by_id}
    return (running | unlisted | set(kept)) - set(paused_by_user)


class PausedByUser:
    """The uploads the user paused and has not resumed since.

    A new engine must leave them paused even where the window still shows them running: a Pause sent while
    the engine was being started again reaches an upload the new engine restored paused, so no status
    tells the window, and the row keeps the last status the dead engine sent."""

    def __init__(self) -> None:
        self._ids: set[int] = set()

    @property
    def ids(self) -> frozenset[int]:
        return frozenset(self._ids)

    def note(self, command: Command, active: Callable[[], Iterable[int]]) -> None:
        """Follow a command the user gave; `active` lists the uploads a Pause All stops."""
        match command:
            case UploadsCommand(action=Action.PAUSE):
                self._ids.update(command.upload_ids)
            case UploadsCommand(action=Action.RESUME | Action.RETRY):
                self._ids.difference_update(command.upload_ids)
            case PauseAll():
                self._ids.update(active())
            case ResumeAll():
                self._ids.clear()


def recorded_before_death(
    requests: Sequence[UploadRequest], restored: Iterable[UploadStatus], *, since: float
) -> tuple[list[UploadStatus], list[UploadRequest]]:
    """Split requests whose `add_many` call failed because the engine died: the uploads the dead engine
    had recorded for them (restored by the new one: same file and key, recorded at `since` or later), and
    the requests it had not recorded, to be added again."""
    recent = {(s.path, s.key): s for s in restored if s.created_at >= since - CLOCK_SLACK}
    recorded, left = [], []
    for request in requests:
        status = recent.pop((request.path.expanduser().absolute(), request.key), None)
        if status is None:
            left.append(request)
        else:
            recorded.append(status)
    return recorded, left
