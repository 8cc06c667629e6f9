"""What the window asks the core to do, as typed values, and the one place that turns them into calls.

The window never names a manager method: it builds a command (`Pause(ids)`, `ResolveConflict(...)`) and
hands it to the bridge, which runs `dispatch` off the GUI thread. `dispatch` is the only code in the GUI
that calls into `UploadManager`'s controls, so the set of calls the app makes is the `match` below.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.core.errors import UploadError
from app.core.models import TransferSettings

if TYPE_CHECKING:
    from app.core.manager import UploadManager


class Control(enum.Enum):
    """A per-upload control, each the manager method of the same name."""

    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    CANCEL = "cancel"
    REMOVE = "remove"


@dataclass(frozen=True)
class ForEach:
    """Apply `control` to each upload in order; one refusal does not keep the others from happening."""

    control: Control
    ids: tuple[int, ...]

    @classmethod
    def of(cls, control: Control, ids: Iterable[int]) -> ForEach:
        return cls(control, tuple(ids))


@dataclass(frozen=True)
class PauseAll:
    pass


@dataclass(frozen=True)
class ResumeAll:
    pass


@dataclass(frozen=True)
class ResolveConflict:
    """An object already exists at the upload's key: replace it, or send the file to `new_key`."""

    upload_id: int
    overwrite: bool = False
    new_key: str | None = None


@dataclass(frozen=True)
class CredentialsChanged:
    api_url: str


@dataclass(frozen=True)
class UpdateSettings:
    settings: TransferSettings


Command = ForEach | PauseAll | ResumeAll | ResolveConflict | CredentialsChanged | UpdateSettings


def dispatch(manager: UploadManager, command: Command) -> None:
    """Carry out `command` on `manager` (blocking: call it off the GUI thread).

    Raises the first `UploadError` a `ForEach` met, after trying every upload.
    """
    match command:
        case ForEach(control=control, ids=ids):
            _for_each(manager, control, ids)
        case PauseAll():
            manager.pause_all()
        case ResumeAll():
            manager.resume_all()
        case ResolveConflict(upload_id=upload_id, overwrite=overwrite, new_key=new_key):
            manager.resolve_conflict(upload_id, overwrite=overwrite, new_key=new_key)
        case CredentialsChanged(api_url=api_url):
            manager.credentials_changed(api_url)
        case UpdateSettings(settings=settings):
            manager.update_settings(settings)


def _for_each(manager: UploadManager, control: Control, ids: tuple[int, ...]) -> None:
    methods = {
        Control.PAUSE: manager.pause,
        Control.RESUME: manager.resume,
        Control.RETRY: manager.retry,
        Control.CANCEL: manager.cancel,
        Control.REMOVE: manager.remove,
    }
    method = methods[control]
    refused: UploadError | None = None
    for upload_id in ids:
        try:
            method(upload_id)
        except UploadError as error:
            refused = refused or error
    if refused is not None:
        raise refused
