"""Typed commands from the app and the CLI to the engine (`UploadManager.execute`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.core.errors import UploadError


class Action(enum.Enum):
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    CANCEL = "cancel"  # aborts the multipart upload (network I/O)
    REMOVE = "remove"  # cancels an unfinished upload, then takes it off the list


@dataclass(frozen=True)
class Command:
    """Do `action` to each upload of `upload_ids`, in order."""

    action: Action
    upload_ids: tuple[int, ...]


@dataclass(frozen=True)
class CommandResult:
    done: tuple[int, ...]
    refused: tuple[tuple[int, UploadError], ...]  # upload id and why, e.g. BusyElsewhereError

    @property
    def first_refusal(self) -> UploadError | None:
        return self.refused[0][1] if self.refused else None
