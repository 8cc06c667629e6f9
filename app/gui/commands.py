"""What the window asks the core to do, as typed values, and the one place that turns them into calls.

The window never names a manager method: it builds a command (`for_uploads(Action.PAUSE, ids)`,
`ResolveConflict(...)`) and hands it to the bridge, which runs `dispatch` off the GUI thread. `dispatch`
is the only code in the GUI that calls into `UploadManager`'s controls, so the set of calls the app
makes is the `match` below. Per-upload controls are the core's own `Command` (`UploadManager.execute`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.core.commands import Action
from app.core.commands import Command as UploadsCommand
from app.core.models import TransferSettings

if TYPE_CHECKING:
    from app.core.engine_wire import EngineControls

__all__ = [
    "Action",
    "Command",
    "CredentialsChanged",
    "PauseAll",
    "ResolveConflict",
    "ResumeAll",
    "UpdateSettings",
    "UploadsCommand",
    "dispatch",
    "for_uploads",
]


def for_uploads(action: Action, ids: Iterable[int]) -> UploadsCommand:
    """`action` for each upload, in order; one refusal does not keep the others from happening."""
    return UploadsCommand(action, tuple(ids))


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


Command = UploadsCommand | PauseAll | ResumeAll | ResolveConflict | CredentialsChanged | UpdateSettings


def dispatch(manager: EngineControls, command: Command) -> None:
    """Carry out `command` on `manager` (blocking: call it off the GUI thread).

    Raises the first `UploadError` an upload refused with, after trying every upload.
    """
    match command:
        case UploadsCommand():
            refusal = manager.execute(command).first_refusal
            if refusal is not None:
                raise refusal
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
