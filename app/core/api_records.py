"""What the upload API answers, as typed records (see shared/API.md for each route)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import UploadError

# When an API does not say how long an unfinished upload keeps its parts: the shortest rule in use
# (the existing deployment's bucket and this project's first versions abort them after 1 day).
ASSUMED_PARTS_KEPT_DAYS = 1


@dataclass(frozen=True)
class ApiInfo:
    """What `probe()` learned about an API."""

    api_url: str
    extended: bool  # False: the existing deployment, core routes only
    principal: str | None = None
    organization_id: str | None = None
    token_verified: bool = False  # core-only APIs cannot check a token without starting an upload
    capabilities: frozenset[str] = frozenset()
    parts_kept_days: int | None = None  # how long an unfinished upload keeps its parts; None: not said
    limits: Mapping[str, int] = field(default_factory=dict)  # e.g. batchFiles, singlePutMaxSize

    def has(self, capability: str) -> bool:
        """True when `/session` lists this extension (e.g. "batch", "clientToken")."""
        return capability in self.capabilities

    def limit(self, name: str, default: int) -> int:
        return self.limits.get(name, default)


@dataclass(frozen=True)
class PresignedUrl:
    part_number: int
    url: str
    issued_at: float  # time.time() when it was asked for
    expires_at: float  # time.time() after which S3 refuses it

    def usable(self, now: float, send_seconds: float = 0.0) -> bool:
        """True while the URL has more than a quarter of its life (at most a minute) left beyond the
        `send_seconds` a part is expected to take (some servers check expiry when the body has arrived)."""
        margin = min(60.0, (self.expires_at - self.issued_at) * 0.25)
        return self.expires_at - now > margin + send_seconds


@dataclass(frozen=True)
class InitializedUpload:
    file_id: str  # the S3 UploadId (the API's own id for a single PUT)
    file_key: str
    max_parts: int | None = None
    min_part_size: int | None = None
    parts_expire_at: float | None = None  # when the bucket's clean-up rule aborts it (time.time())


@dataclass(frozen=True)
class RemotePart:
    number: int
    etag: str
    size: int


@dataclass(frozen=True)
class FinalizedUpload:
    image_path: str
    url: str | None  # None when neither the API nor a configured CDN base URL gives one
    size: int | None
    etag: str | None = None  # the object's ETag, when the API says it


# --- the folder routes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FileToStart:
    """One file of `/initializeBatch`: an `/initialize` body and how it will be sent."""

    client_token: str
    payload: Mapping[str, Any]  # {"plugin": ..., "pluginPayload": {...}}
    file_size: int
    content_type: str | None = None
    overwrite: bool = False
    single: bool = False  # one presigned PUT instead of a multipart upload
    sign_parts: int = 0  # multipart: how many of the first part URLs to sign in the same answer


@dataclass(frozen=True)
class StartedFile:
    client_token: str
    file_id: str
    file_key: str
    urls: Mapping[int, PresignedUrl]  # multipart: the first parts' URLs
    put_url: PresignedUrl | None = None  # single: the whole file goes here (as part 1)
    headers: Mapping[str, str] = field(default_factory=dict)  # single: send exactly these
    parts_expire_at: float | None = None
    state: str = "uploading"  # "finished" or "aborted": the same clientToken named an older upload


@dataclass(frozen=True)
class FileToFinish:
    file_id: str
    file_key: str
    parts: tuple[tuple[int, str], ...] | None = None  # None for a single PUT


@dataclass(frozen=True)
class FinishedFile:
    file_id: str
    image_path: str
    url: str | None
    size: int | None
    etag: str | None


@dataclass(frozen=True)
class FileRefused:
    """One file of a batch that the API refused; the others are not affected."""

    ref: str  # the clientToken (start) or fileId (finish) it answers
    error: UploadError


@dataclass(frozen=True)
class RemoteUpload:
    """One of the caller's uploads as `/listUploads` reports it (started on any computer)."""

    file_id: str
    file_key: str
    file_number: str | None
    state: str  # "uploading", "finished" or "aborted"
    created_at: float | None
    updated_at: float | None
    file_size: int | None
    content_type: str | None
    single: bool
    url: str | None


@dataclass(frozen=True)
class UploadsPage:
    uploads: list[RemoteUpload]
    cursor: str | None  # None: that was the last page
