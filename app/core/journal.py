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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from app.core.errors import UploadError
from app.core.journal_rows import (
    MIGRATIONS,
    SCHEMA_VERSION,
    FinishedUpload,
    JournalPart,
    JournalUpload,
    NewUpload,
    StartedUpload,
    to_upload,
)
from app.core.models import UploadState
from app.core.paths import data_dir, private_dir, private_file

__all__ = [
    "SCHEMA_VERSION",
    "FinishedUpload",
    "Journal",
    "JournalError",
    "JournalPart",
    "JournalUpload",
    "NewUpload",
    "StartedUpload",
    "UploadNotFoundError",
]

BUSY_TIMEOUT_MS = 15_000
JOURNAL_FILENAME = "journal.sqlite3"


class JournalError(UploadError):
    """The journal cannot be opened, read or written; `str(error)` says what to do."""


class UploadNotFoundError(JournalError):
    """The upload is not (or no longer) in the journal, e.g. another process deleted it."""


class Journal:
    """The resume journal in one SQLite file. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            private_file(private_dir(self.path.parent) / self.path.name)  # 0600, and so its -wal/-shm
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

    def create_upload(self, *, claim: Callable[[int], None] | None = None, **fields: Any) -> JournalUpload:
        """Record a new upload (no UploadId yet) and return it with its id, which never changes.

        `fields` are those of `NewUpload`. `claim(id)` runs before the new row is committed, while no
        other connection can see it (the engine takes the upload's lock there, so no other process ever
        finds it unlocked)."""
        return self.create_uploads([NewUpload(**fields)], claim=claim)[0]

    def create_uploads(
        self, uploads: Sequence[NewUpload], *, claim: Callable[[int], None] | None = None
    ) -> list[JournalUpload]:
        """Record many new uploads in one transaction (one disk flush for a whole folder), in order."""
        now = time.time()
        refs = []
        with self._write() as conn:
            for new in uploads:
                cursor = conn.execute(
                    """INSERT INTO uploads (api_url, path, size, mtime_ns, fingerprint, key, metadata,
                           content_type, part_size, state, created_at, updated_at, overwrite, accelerate,
                           cdn_base_url, idempotency_key, part_size_fixed)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (new.api_url, os.fsencode(new.path), new.size, new.mtime_ns, new.fingerprint, new.key,
                     json.dumps(new.metadata, ensure_ascii=False), new.content_type, new.part_size,
                     new.state.value, now, now, int(new.overwrite), int(new.accelerate), new.cdn_base_url,
                     new.idempotency_key, int(new.part_size_fixed)),
                )  # fmt: skip
                upload_ref = cursor.lastrowid
                assert upload_ref is not None
                if claim is not None:
                    claim(upload_ref)
                refs.append(upload_ref)
        return [
            JournalUpload(
                id=ref,
                api_url=new.api_url,
                path=new.path,
                size=new.size,
                mtime_ns=new.mtime_ns,
                fingerprint=new.fingerprint,
                key=new.key,
                metadata=new.metadata,
                content_type=new.content_type,
                part_size=new.part_size,
                upload_id=None,
                state=new.state,
                message=None,
                url=None,
                link_verified=None,
                created_at=now,
                updated_at=now,
                finished_at=None,
                overwrite=new.overwrite,
                accelerate=new.accelerate,
                cdn_base_url=new.cdn_base_url,
                idempotency_key=new.idempotency_key,
                part_size_fixed=new.part_size_fixed,
            )  # as the row now reads: nobody else can have changed it before this commit
            for ref, new in zip(refs, uploads, strict=True)
        ]

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
        self.set_started_many([StartedUpload(upload_ref, upload_id, part_size, parts_expire_at, single)])

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

    def set_started_many(self, started: Sequence[StartedUpload]) -> None:
        """`set_started` for many uploads in one transaction."""
        with self._write() as conn:
            for item in started:
                row = self._row(conn, item.upload_ref)
                if row["upload_id"] != item.upload_id or row["part_size"] != item.part_size:
                    conn.execute("DELETE FROM parts WHERE upload_ref = ?", (item.upload_ref,))
                self._update(conn, item.upload_ref, upload_id=item.upload_id, part_size=item.part_size,
                             parts_expire_at=item.parts_expire_at, single=int(item.single))  # fmt: skip

    def set_states(self, changes: Sequence[tuple[int, UploadState, str | None]]) -> None:
        """`set_state` for many uploads (upload, state, message) in one transaction."""
        if not changes:
            return
        with self._write() as conn:
            for upload_ref, state, message in changes:
                self._update(conn, upload_ref, state=state.value, message=message)

    def set_state(
        self, upload_ref: int, state: UploadState, message: str | None = None, *, durable: bool = True
    ) -> None:
        """Store the state and the message for the user (None clears the message).

        `durable=False` lets the disk flush wait for the next durable write (a state that says what this
        process is doing, such as uploading, need not survive a power cut: restore shows it paused)."""
        with self._write(durable=durable) as conn:
            self._update(conn, upload_ref, state=state.value, message=message)

    def set_finished(
        self, upload_ref: int, url: str | None, link_verified: bool | None, message: str | None = None
    ) -> None:
        """Mark the upload DONE now, with its link, whether a HEAD request on the link succeeded, and a
        note for the user (e.g. how many parts were sent again).

        Its part records go: a finished upload is never resumed, and a 10,000-part upload would keep
        10,000 rows."""
        self.set_finished_many([FinishedUpload(upload_ref, url, link_verified, message)])

    def set_finished_many(self, finished: Sequence[FinishedUpload]) -> None:
        """`set_finished` for many uploads in one transaction."""
        now = time.time()
        with self._write() as conn:
            for item in finished:
                link = None if item.link_verified is None else int(item.link_verified)
                self._update(conn, item.upload_ref, state=UploadState.DONE.value, message=item.message,
                             url=item.url, link_verified=link, finished_at=now)  # fmt: skip
                conn.execute("DELETE FROM parts WHERE upload_ref = ?", (item.upload_ref,))

    def get(self, upload_ref: int) -> JournalUpload | None:
        """The upload with this id, or None when there is none."""
        rows = self._read("SELECT * FROM uploads WHERE id = ?", (upload_ref,))
        return to_upload(rows[0]) if rows else None

    def by_upload_ids(self, upload_ids: Sequence[str]) -> dict[str, JournalUpload]:
        """The uploads (hidden ones too) started on the server with these ids, by id (newest wins)."""
        found: dict[str, JournalUpload] = {}
        for start in range(0, len(upload_ids), 500):  # SQLite's limit on bound parameters
            chunk = tuple(upload_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._read(f"SELECT * FROM uploads WHERE upload_id IN ({marks}) ORDER BY id", chunk)
            found.update((row["upload_id"], to_upload(row)) for row in rows)
        return found

    def unfinished(self) -> list[JournalUpload]:
        """Uploads not DONE or CANCELLED (nor hidden), oldest first: what to offer to resume at start."""
        rows = self._read(
            "SELECT * FROM uploads WHERE state NOT IN (?, ?) AND hidden = 0 ORDER BY created_at, id",
            (UploadState.DONE.value, UploadState.CANCELLED.value),
        )
        return [to_upload(row) for row in rows]

    def history(self, limit: int = 500) -> list[JournalUpload]:
        """Finished (DONE) uploads not hidden, newest first, at most `limit`."""
        rows = self._read(
            "SELECT * FROM uploads WHERE state = ? AND hidden = 0 ORDER BY finished_at DESC, id DESC LIMIT ?",
            (UploadState.DONE.value, limit),
        )
        return [to_upload(row) for row in rows]

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

    def parts_of(self, upload_refs: Sequence[int]) -> dict[int, dict[int, JournalPart]]:
        """The recorded parts of many uploads, by upload and part number (uploads without any left out)."""
        found: dict[int, dict[int, JournalPart]] = {}
        for start in range(0, len(upload_refs), 500):  # SQLite's limit on bound parameters
            chunk = tuple(upload_refs[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                f"SELECT upload_ref, number, etag, size FROM parts WHERE upload_ref IN ({marks})", chunk
            )
            for row in rows:
                found.setdefault(row["upload_ref"], {})[row["number"]] = JournalPart(
                    row["number"], row["etag"], row["size"]
                )
        return found

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
                MIGRATIONS[version](conn)
                version += 1
            conn.execute(f"PRAGMA user_version = {version}")

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on a clean exit (flushed to disk unless `durable` is False)
        and rolled back otherwise."""
        with self._lock:
            try:
                if not durable:
                    self._conn.execute("PRAGMA synchronous = NORMAL")
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
            finally:
                if not durable:
                    with suppress(sqlite3.Error):
                        self._conn.execute("PRAGMA synchronous = FULL")

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
