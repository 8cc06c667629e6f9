"""What the resume journal stores: its records, its schema and the migrations between versions."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.fingerprint import FileIdentity
from app.core.models import UploadState

SCHEMA_VERSION = 2


@dataclass(frozen=True, slots=True)
class JournalPart:
    """A part that S3 accepted: its number (1-based), the ETag S3 returned and its size in bytes."""

    number: int
    etag: str
    size: int


@dataclass(frozen=True, slots=True)
class JournalUpload:
    """One upload as the journal knows it (an immutable snapshot)."""

    id: int
    api_url: str
    path: Path
    size: int
    mtime_ns: int
    fingerprint: str
    key: str
    metadata: dict[str, Any]
    content_type: str | None
    part_size: int
    upload_id: str | None
    state: UploadState
    message: str | None
    url: str | None
    link_verified: bool | None
    created_at: float
    updated_at: float
    finished_at: float | None
    overwrite: bool
    accelerate: bool
    cdn_base_url: str | None
    idempotency_key: str | None = None  # the clientToken of /initialize: a lost answer starts nothing twice
    part_size_fixed: bool = False  # the user chose `part_size`; otherwise it is planned per API
    parts_expire_at: float | None = None  # when the bucket's clean-up rule deletes the parts sent
    single: bool = False  # sent as one PUT: `upload_id` is the API's id, not an S3 UploadId

    @property
    def identity(self) -> FileIdentity:
        """The identity the file had when its upload began."""
        return FileIdentity(self.size, self.mtime_ns, self.fingerprint)


@dataclass(frozen=True, slots=True)
class NewUpload:
    """What `Journal.create_uploads` records for a new upload."""

    api_url: str
    path: Path
    size: int
    mtime_ns: int
    fingerprint: str
    key: str
    metadata: dict[str, Any]
    content_type: str | None
    part_size: int
    state: UploadState = UploadState.QUEUED
    overwrite: bool = False
    accelerate: bool = False
    cdn_base_url: str | None = None
    idempotency_key: str | None = None
    part_size_fixed: bool = False


@dataclass(frozen=True, slots=True)
class StartedUpload:
    upload_ref: int
    upload_id: str
    part_size: int
    parts_expire_at: float | None
    single: bool = False


@dataclass(frozen=True, slots=True)
class FinishedUpload:
    upload_ref: int
    url: str | None
    link_verified: bool | None
    message: str | None = None


def _create_v1(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE uploads (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            api_url TEXT NOT NULL,
            path BLOB NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            key TEXT NOT NULL,
            metadata TEXT NOT NULL,
            content_type TEXT,
            part_size INTEGER NOT NULL,
            upload_id TEXT,
            state TEXT NOT NULL,
            message TEXT,
            url TEXT,
            link_verified INTEGER,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            finished_at REAL,
            overwrite INTEGER NOT NULL DEFAULT 0,
            accelerate INTEGER NOT NULL DEFAULT 0,
            cdn_base_url TEXT,
            hidden INTEGER NOT NULL DEFAULT 0
        )"""
    )
    conn.execute(
        """CREATE TABLE parts (
            upload_ref INTEGER NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            etag TEXT NOT NULL,
            size INTEGER NOT NULL,
            PRIMARY KEY (upload_ref, number)
        ) WITHOUT ROWID"""
    )
    conn.execute("CREATE INDEX uploads_by_state ON uploads (state, hidden)")


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """The idempotency key (clientToken) of /initialize, whether the part size was chosen, when the
    parts expire, and single-PUT uploads. A v1 part size was the user's choice when no upload had
    started yet."""
    for column in (
        "idempotency_key TEXT",
        "part_size_fixed INTEGER NOT NULL DEFAULT 0",
        "parts_expire_at REAL",
        "single INTEGER NOT NULL DEFAULT 0",
    ):
        conn.execute(f"ALTER TABLE uploads ADD COLUMN {column}")
    conn.execute("UPDATE uploads SET part_size_fixed = 1 WHERE part_size != 0 AND upload_id IS NULL")


# MIGRATIONS[n] brings a journal from schema version n to n + 1 (0 is an empty file).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _create_v1, 1: _v1_to_v2}
assert len(MIGRATIONS) == SCHEMA_VERSION


def to_upload(row: sqlite3.Row) -> JournalUpload:
    values = {name: row[name] for name in row.keys() if name != "hidden"}  # noqa: SIM118 (Row has no iter of keys)
    link = values["link_verified"]
    values.update(
        path=Path(os.fsdecode(values["path"])),
        metadata=json.loads(values["metadata"]),
        state=UploadState(values["state"]),
        link_verified=None if link is None else bool(link),
        overwrite=bool(values["overwrite"]),
        accelerate=bool(values["accelerate"]),
        part_size_fixed=bool(values["part_size_fixed"]),
        single=bool(values["single"]),
    )
    return JournalUpload(**values)
