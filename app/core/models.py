"""The records the core hands to its callers: upload states, requests, status snapshots, settings.

Everything here is immutable and free of I/O, so a snapshot can cross threads safely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.errors import UploadError
from app.core.states import UploadState

__all__ = ["GIB", "MIB", "AddResult", "TransferSettings", "UploadRequest", "UploadState", "UploadStatus"]

MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass(frozen=True)
class UploadRequest:
    """What a caller asks the engine to upload.

    `metadata` is the `pluginPayload` object without `imageKey`; the engine adds `imageKey = key`.
    """

    path: Path
    api_url: str
    key: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    content_type: str | None = None
    part_size: int | None = None  # None: the planner chooses
    overwrite: bool = False
    accelerate: bool = False
    cdn_base_url: str | None = None  # for APIs whose finalize does not return a link


@dataclass(frozen=True)
class UploadStatus:
    """A snapshot of one upload, as subscribers and `statuses()` see it."""

    id: int  # the journal's id, stable across restarts
    path: Path
    key: str
    api_url: str
    size: int
    bytes_done: int
    state: UploadState
    parts_done: int = 0
    parts_total: int = 0
    speed: float = 0.0  # bytes per second over a moving window
    eta: float | None = None  # seconds, None when unknown
    url: str | None = None
    link_verified: bool | None = None  # None until checked
    message: str | None = None  # for the user: why it failed, paused or needs attention
    upload_id: str | None = None  # the S3 UploadId
    created_at: float = 0.0
    finished_at: float | None = None
    sent_elsewhere: bool = False  # another s3up process is sending it; `message` says which
    # A resumed upload re-reads the parts sent before and compares them with what S3 holds:
    parts_to_check: int = 0  # how many parts this check covers (0: no check under way or done)
    parts_checked: int = 0
    parts_resent: int = 0  # checked parts that differed from the file: they are sent again
    parts_expire_at: float | None = None  # when the server deletes the parts sent (time.time())
    expiry_warning: str | None = None  # a sentence, from a day before `parts_expire_at`

    @property
    def fraction(self) -> float:
        """Progress from 0.0 to 1.0 (an empty file is complete when done)."""
        if self.size == 0:
            return 1.0 if self.state is UploadState.DONE else 0.0
        return min(1.0, self.bytes_done / self.size)

    @property
    def checking(self) -> bool:
        """True while the parts sent before are being checked against the file."""
        return self.state.is_active and self.parts_checked < self.parts_to_check

    @property
    def activity(self) -> str | None:
        """What the engine is doing beyond sending, for a table cell: "Checking 12 of 40 parts…"."""
        if self.checking:
            return f"Checking {self.parts_checked} of {self.parts_to_check} parts…"
        return None


@dataclass(frozen=True)
class AddResult:
    """What `UploadManager.add_many` did: the uploads queued, and the files refused with the reason."""

    added: list[UploadStatus]
    refused: list[tuple[UploadRequest, UploadError]]  # `error.message` says why


@dataclass(frozen=True)
class TransferSettings:
    """How hard the engine pushes. Shared by every upload of one manager."""

    # Requests in flight across all files. None: automatic, adapted between 2 and 64 to the measured
    # speed and errors; a number fixes it (1 to 64).
    max_connections: int | None = None
    per_file_connections: int | None = None  # parts of one file in flight; None: no cap of its own
    part_size: int | None = None  # None: automatic
    bandwidth_limit: float | None = None  # bytes per second for all transfers, None: unlimited
    max_attempts: int = 8  # per part, before the upload is marked failed
    accelerate: bool = False
