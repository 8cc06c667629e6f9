"""The records the core hands to its callers: upload states, requests, status snapshots, settings.

Everything here is immutable and free of I/O, so a snapshot can cross threads safely.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
GIB = 1024 * MIB


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
    FILE_CHANGED = "file_changed"  # the file was changed, moved or deleted since the upload began

    @property
    def is_active(self) -> bool:
        """True while the engine is working on it (or about to)."""
        return self in (UploadState.QUEUED, UploadState.UPLOADING, UploadState.FINALIZING)

    @property
    def is_finished(self) -> bool:
        """True when nothing more will happen to it."""
        return self in (UploadState.DONE, UploadState.CANCELLED)

    @property
    def can_resume(self) -> bool:
        """True when resume()/retry() would make progress."""
        return self in (UploadState.PAUSED, UploadState.FAILED, UploadState.NEEDS_SIGN_IN)

    @property
    def label(self) -> str:
        """A short word for a table cell."""
        return _LABELS[self]


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
}


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

    @property
    def fraction(self) -> float:
        """Progress from 0.0 to 1.0 (an empty file is complete when done)."""
        if self.size == 0:
            return 1.0 if self.state is UploadState.DONE else 0.0
        return min(1.0, self.bytes_done / self.size)


@dataclass(frozen=True)
class TransferSettings:
    """How hard the engine pushes. Shared by every upload of one manager."""

    max_connections: int = 8  # parts in flight across all files
    per_file_connections: int = 4  # parts in flight for one file
    part_size: int | None = None  # None: automatic
    bandwidth_limit: float | None = None  # bytes per second for all transfers, None: unlimited
    max_attempts: int = 8  # per part, before the upload is marked failed
    accelerate: bool = False
