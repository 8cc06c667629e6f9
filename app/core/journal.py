"""The resume journal: every upload and every finished part, in SQLite, durable across kill -9 and reboots.

One `Journal` holds one connection guarded by a lock, so any number of threads of a process may share it;
several processes (the CLI and the GUI) may open the same file at once (WAL mode, a busy timeout, and
every write in a `BEGIN IMMEDIATE` transaction). Each write is committed with ``synchronous=FULL`` before
the method returns. Nothing here stores a token: the schema has no place for one.

Every database failure reaches the caller as `JournalError`, whose text is a sentence for the user.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import UploadError
from app.core.fingerprint import FileIdentity
from app.core.models import UploadState
from app.core.paths import data_dir

SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 15_000
JOURNAL_FILENAME = "journal.sqlite3"


class JournalError(UploadError):
    """The journal cannot be opened, read or written; `str(error)` says what to do."""


class UploadNotFoundError(JournalError):
    """The upload is not (or no longer) in the journal, e.g. another process deleted it."""


@dataclass(frozen=True)
class JournalPart:
    """A part that S3 accepted: its number (1-based), the ETag S3 returned and its size in bytes."""

    number: int
    etag: str
    size: int


@dataclass(frozen=True)
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


# _MIGRATIONS[n] brings a journal from schema version n to n + 1 (0 is an empty file).
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _create_v1, 1: _v1_to_v2}
assert len(_MIGRATIONS) == SCHEMA_VERSION


class Journal:
    """The resume journal in one SQLite file. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                os.fspath(self.path),
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,  # shared by threads under self._lock
            )
        except (OSError, sqlite3.Error) as error:
            raise self._error(error) from error
        try:
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
            self._prune_finished_parts()
        except BaseException as error:
            self._conn.close()
            if isinstance(error, sqlite3.Error):
                raise self._error(error) from error
            raise

    @classmethod
    def open_default(cls) -> Journal:
        """Open (or create) the journal in the user's data folder."""
        return cls(data_dir() / JOURNAL_FILENAME)

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- uploads -------------------------------------------------------------------------------------

    def create_upload(
        self,
        *,
        api_url: str,
        path: Path,
        size: int,
        mtime_ns: int,
        fingerprint: str,
        key: str,
        metadata: dict[str, Any],
        content_type: str | None,
        part_size: int,
        state: UploadState = UploadState.QUEUED,
        overwrite: bool = False,
        accelerate: bool = False,
        cdn_base_url: str | None = None,
        idempotency_key: str | None = None,
        part_size_fixed: bool = False,
        claim: Callable[[int], None] | None = None,
    ) -> JournalUpload:
        """Record a new upload (no UploadId yet) and return it with its id, which never changes.

        `claim(id)` runs before the new row is committed, while no other connection can see it (the
        engine takes the upload's lock there, so no other process ever finds it unlocked)."""
        now = time.time()
        with self._write() as conn:
            cursor = conn.execute(
                """INSERT INTO uploads (api_url, path, size, mtime_ns, fingerprint, key, metadata,
                       content_type, part_size, state, created_at, updated_at, overwrite, accelerate,
                       cdn_base_url, idempotency_key, part_size_fixed)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (api_url, os.fsencode(path), size, mtime_ns, fingerprint, key,
                 json.dumps(metadata, ensure_ascii=False), content_type, part_size, state.value,
                 now, now, int(overwrite), int(accelerate), cdn_base_url, idempotency_key,
                 int(part_size_fixed)),
            )  # fmt: skip
            upload_ref = cursor.lastrowid
            if claim is not None and upload_ref is not None:
                claim(upload_ref)
        upload = self.get(upload_ref) if upload_ref is not None else None
        if upload is None:  # deleted by another process in between
            raise UploadNotFoundError("The new upload vanished from the journal; add the file again.")
        return upload

    def set_upload_id(self, upload_ref: int, upload_id: str | None) -> None:
        """Store the S3 UploadId (None forgets it). A different UploadId than before drops recorded parts,
        since they belonged to the old multipart upload."""
        with self._write() as conn:
            old = self._row(conn, upload_ref)["upload_id"]
            if old != upload_id:
                conn.execute("DELETE FROM parts WHERE upload_ref = ?", (upload_ref,))
            self._update(conn, upload_ref, upload_id=upload_id)

    def set_plan(self, upload_ref: int, part_size: int) -> None:
        """Store the part size. A different size than before drops recorded parts (they no longer line up)."""
        with self._write() as conn:
            if self._row(conn, upload_ref)["part_size"] != part_size:
                conn.execute("DELETE FROM parts WHERE upload_ref = ?", (upload_ref,))
            self._update(conn, upload_ref, part_size=part_size)

    def set_started(
        self,
        upload_ref: int,
        upload_id: str,
        part_size: int,
        *,
        parts_expire_at: float | None,
        single: bool = False,
    ) -> None:
        """Record a started upload: its id, its plan and when its parts expire, in one transaction.
        Recorded parts go unless the id and the part size are the ones they were sent with."""
        with self._write() as conn:
            row = self._row(conn, upload_ref)
            if row["upload_id"] != upload_id or row["part_size"] != part_size:
                conn.execute("DELETE FROM parts WHERE upload_ref = ?", (upload_ref,))
            self._update(conn, upload_ref, upload_id=upload_id, part_size=part_size,
                         parts_expire_at=parts_expire_at, single=int(single))  # fmt: skip

    def restart(self, upload_ref: int, idempotency_key: str | None) -> None:
        """Forget the server's upload and its parts (it was lost, or the request changed), with a new
        idempotency key so that the next /initialize starts a new one."""
        with self._write() as conn:
            conn.execute("DELETE FROM parts WHERE upload_ref = ?", (upload_ref,))
            self._update(conn, upload_ref, upload_id=None, idempotency_key=idempotency_key,
                         parts_expire_at=None, single=0)  # fmt: skip

    def change_request(self, upload_ref: int, *, key: str, overwrite: bool) -> None:
        """A new key, or overwriting allowed (after the key was found taken)."""
        with self._write() as conn:
            self._update(conn, upload_ref, key=key, overwrite=int(overwrite))

    def set_state(self, upload_ref: int, state: UploadState, message: str | None = None) -> None:
        """Store the state and the message for the user (None clears the message)."""
        with self._write() as conn:
            self._update(conn, upload_ref, state=state.value, message=message)

    def set_finished(
        self, upload_ref: int, url: str | None, link_verified: bool | None, message: str | None = None
    ) -> None:
        """Mark the upload DONE now, with its link, whether a HEAD request on the link succeeded, and a
        note for the user (e.g. how many parts were sent again).

        Its part records go: a finished upload is never resumed, and a 10,000-part upload would keep
        10,000 rows."""
        link = None if link_verified is None else int(link_verified)
        with self._write() as conn:
            self._update(conn, upload_ref, state=UploadState.DONE.value, message=message, url=url,
                         link_verified=link, finished_at=time.time())  # fmt: skip
            conn.execute("DELETE FROM parts WHERE upload_ref = ?", (upload_ref,))

    def get(self, upload_ref: int) -> JournalUpload | None:
        """The upload with this id, or None when there is none."""
        rows = self._read("SELECT * FROM uploads WHERE id = ?", (upload_ref,))
        return _to_upload(rows[0]) if rows else None

    def unfinished(self) -> list[JournalUpload]:
        """Uploads not DONE or CANCELLED (nor hidden), oldest first: what to offer to resume at start."""
        rows = self._read(
            "SELECT * FROM uploads WHERE state NOT IN (?, ?) AND hidden = 0 ORDER BY created_at, id",
            (UploadState.DONE.value, UploadState.CANCELLED.value),
        )
        return [_to_upload(row) for row in rows]

    def history(self, limit: int = 500) -> list[JournalUpload]:
        """Finished (DONE) uploads not hidden, newest first, at most `limit`."""
        rows = self._read(
            "SELECT * FROM uploads WHERE state = ? AND hidden = 0 ORDER BY finished_at DESC, id DESC LIMIT ?",
            (UploadState.DONE.value, limit),
        )
        return [_to_upload(row) for row in rows]

    def hide(self, upload_ref: int) -> None:
        """Keep the upload in the file but out of `unfinished()` and `history()`. Unknown ids: no-op."""
        with self._write() as conn:
            conn.execute("UPDATE uploads SET hidden = 1 WHERE id = ?", (upload_ref,))

    def delete(self, upload_ref: int) -> None:
        """Remove the upload and its parts. Unknown ids are fine."""
        with self._write() as conn:
            conn.execute("DELETE FROM uploads WHERE id = ?", (upload_ref,))

    # --- parts ---------------------------------------------------------------------------------------

    def record_part(self, upload_ref: int, number: int, etag: str, size: int) -> None:
        """Record a part S3 accepted (replacing an earlier record of that number). Durable on return."""
        with self._write() as conn:
            self._row(conn, upload_ref)
            conn.execute(
                "INSERT OR REPLACE INTO parts (upload_ref, number, etag, size) VALUES (?, ?, ?, ?)",
                (upload_ref, number, etag, size),
            )
            self._update(conn, upload_ref)

    def forget_parts(self, upload_ref: int, numbers: Iterable[int] | None = None) -> None:
        """Drop the records of these parts (all of them when `numbers` is None), e.g. after `/listParts`."""
        with self._write() as conn:
            if numbers is None:
                conn.execute("DELETE FROM parts WHERE upload_ref = ?", (upload_ref,))
            else:
                conn.executemany(
                    "DELETE FROM parts WHERE upload_ref = ? AND number = ?",
                    [(upload_ref, number) for number in numbers],
                )

    def parts(self, upload_ref: int) -> dict[int, JournalPart]:
        """The recorded parts of an upload by number (empty for an unknown id)."""
        rows = self._read(
            "SELECT number, etag, size FROM parts WHERE upload_ref = ? ORDER BY number", (upload_ref,)
        )
        return {row["number"]: JournalPart(row["number"], row["etag"], row["size"]) for row in rows}

    # --- internals -----------------------------------------------------------------------------------

    def _prune_finished_parts(self) -> None:
        """Drop the part records of finished uploads, which nothing reads (set_finished drops them now;
        journals written before kept them). A plain clean-up, so that older versions can still open it."""
        with self._write() as conn:
            conn.execute(
                "DELETE FROM parts WHERE upload_ref IN (SELECT id FROM uploads WHERE state IN (?, ?))",
                (UploadState.DONE.value, UploadState.CANCELLED.value),
            )

    def _migrate(self) -> None:
        conn = self._conn
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with self._write():
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"The resume journal at {self.path} was written by a newer version of s3up. "
                    "Update s3up, or move that file away to start a new journal."
                )
            if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise JournalError(
                    f"The file at {self.path} is an SQLite database but not an s3up journal. "
                    "Move it away so that s3up can create its journal there."
                )
            while version < SCHEMA_VERSION:
                _MIGRATIONS[version](conn)
                version += 1
            conn.execute(f"PRAGMA user_version = {version}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed (durably) on a clean exit and rolled back otherwise."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise self._error(error) from error
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as error:
                with suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise self._error(error) from error
                raise

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise self._error(error) from error

    def _row(self, conn: sqlite3.Connection, upload_ref: int) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM uploads WHERE id = ?", (upload_ref,)).fetchone()
        if row is None:
            raise UploadNotFoundError(
                f"Upload {upload_ref} is no longer in the journal (it was removed, perhaps by another "
                "s3up window); add the file again to upload it."
            )
        return row

    def _update(self, conn: sqlite3.Connection, upload_ref: int, **columns: Any) -> None:
        """Set these columns (names are ours, never user input) and updated_at; raise if the id is unknown."""
        columns["updated_at"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in columns)
        cursor = conn.execute(
            f"UPDATE uploads SET {assignments} WHERE id = ?", (*columns.values(), upload_ref)
        )
        if cursor.rowcount == 0:
            self._row(conn, upload_ref)  # raises UploadNotFoundError

    def _error(self, error: BaseException) -> JournalError:
        """Turn a database or file-system error into a sentence for the user."""
        code = getattr(error, "sqlite_errorname", "")
        if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or code.startswith("SQLITE_CORRUPT"):
            return JournalError(
                f"The resume journal at {self.path} is damaged ({error}). Move it away to start a new "
                "journal; the unfinished uploads listed in it will then have to be added again."
            )
        if code.startswith("SQLITE_BUSY") or code.startswith("SQLITE_LOCKED"):
            return JournalError(
                f"The resume journal at {self.path} is held by another s3up process ({error}). "
                "Wait a moment and try again, or close the other s3up window or command."
            )
        if code.startswith("SQLITE_FULL"):
            return JournalError(
                f"The disk holding the resume journal at {self.path} is full. Free some space and try again."
            )
        return JournalError(
            f"The resume journal at {self.path} cannot be opened or written ({error}). "
            "Check that its folder exists and that you may read and write it."
        )


def _to_upload(row: sqlite3.Row) -> JournalUpload:
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
