"""The API's records in one SQLite file: what the local stack runs on.

WAL journal, one write transaction at a time (`BEGIN IMMEDIATE`, so concurrent writers queue on
the lock instead of failing; the threads of one process queue on a lock of their own first, handed
over at once, where SQLite's busy handler would poll with sleeps of up to 100 ms), readers never
blocked; a small pool of connections serves any number of threads. `synchronous=NORMAL` in WAL mode
loses nothing when the process is killed (`kill -9`): a committed transaction is in the WAL file,
which the next open replays. The file is created readable by its owner only (it holds token hashes
and upload metadata).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from backend.files import (
    FileStore,
    Finish,
    NewUpload,
    Publication,
    PublicationLostError,
    PublicationState,
    Recorded,
    Upload,
    UploadState,
    client_token_expiry,
    utc_now,
)
from backend.tokens import TokenRecord, TokenStore

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000
MAX_IDLE_CONNECTIONS = 16
_SCHEMA = """
CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL);
INSERT OR IGNORE INTO counter (id, count) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS uploads (
    file_number INTEGER PRIMARY KEY,
    upload_id TEXT NOT NULL UNIQUE,
    file_key TEXT NOT NULL,
    principal TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    state TEXT NOT NULL,
    content_type TEXT NOT NULL,
    file_size INTEGER,
    single INTEGER NOT NULL,
    overwrite INTEGER NOT NULL,
    client_token TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    size INTEGER,
    url TEXT,
    etag TEXT,
    finished_at TEXT,
    request TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_owner ON uploads (principal, organization_id, file_number);
CREATE INDEX IF NOT EXISTS uploads_by_owner_state ON uploads (principal, organization_id, state, file_number);
CREATE TABLE IF NOT EXISTS client_tokens (
    principal TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    client_token TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (principal, organization_id, client_token)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS publications (
    file_key TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    principal TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    state TEXT NOT NULL,
    since REAL NOT NULL,
    holds_until REAL NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    expires_at INTEGER,
    revoked INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
"""
_UPLOAD_COLUMNS = (
    "upload_id, file_number, file_key, principal, organization_id, state, content_type, file_size, "
    "single, overwrite, client_token, created_at, updated_at, size, url, etag, finished_at"
)


class SqliteDatabase:
    """One SQLite file shared by the file and token stores; safe to use from any number of threads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer = threading.Lock()  # this process's write transactions, one at a time
        self._closed = False
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._create_schema()

    def _create_schema(self) -> None:
        with self.connection() as connection:
            connection.execute("PRAGMA journal_mode = WAL")  # persistent: recorded in the file
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer s3up (schema {version}); upgrade s3up to open it"
                )
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";\n"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                connection.execute("DELETE FROM client_tokens WHERE expires_at <= ?", (int(time.time()),))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for this thread alone until the block ends (statements autocommit)."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the database {self.path} is closed")
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = self._open()
        try:
            yield connection
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            with self._lock:
                keep = not self._closed and len(self._idle) < MAX_IDLE_CONNECTIONS
                if keep:
                    self._idle.append(connection)
            if not keep:
                connection.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self.connection() as connection, self._writer:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def close(self) -> None:
        """Close every pooled connection; later use raises. Idempotent."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _upload(row: Sequence[Any]) -> Upload:
    """An `Upload` from a row of `_UPLOAD_COLUMNS` (SQLite hands back the types stored)."""
    (upload_id, number, key, principal, organization, state, content_type, file_size, single, overwrite,
     client_token, created, updated, size, url, etag, finished) = row  # fmt: skip
    return Upload(
        upload_id=upload_id,
        file_number=number,
        file_key=key,
        principal=principal,
        organization_id=organization,
        state=UploadState(state),
        content_type=content_type,
        file_size=file_size,
        single=bool(single),
        overwrite=bool(overwrite),
        client_token=client_token,
        created_at=created,
        updated_at=updated,
        size=size,
        url=url,
        etag=etag,
        finished_at=finished,
    )


def _publication(row: Sequence[Any]) -> Publication:
    key, organization, principal, upload_id, state, since, holds_until, version = row
    return Publication(
        file_key=key,
        organization_id=organization,
        principal=principal,
        upload_id=upload_id,
        state=PublicationState(state),
        since=since,
        holds_until=holds_until,
        version=version,
    )


def _marks(count: int) -> str:
    return ",".join("?" * count)


class SqliteFileStore(FileStore):
    """Uploads, client tokens and publications in a `SqliteDatabase`."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    def reserve_numbers(self, count: int) -> int:
        if count < 1:
            raise ValueError("reserve at least one number")
        with self._db.write() as connection:
            (last,) = connection.execute(
                "UPDATE counter SET count = count + ? WHERE id = 1 RETURNING count", (count,)
            ).fetchone()
        return int(last) - count + 1

    def record_many(self, entries: Sequence[tuple[int, NewUpload]]) -> list[Recorded]:
        results: list[Recorded] = []
        now, recorded_at = utc_now(), time.time()
        with self._db.write() as connection:
            for number, upload in entries:
                if upload.client_token is not None:
                    row = connection.execute(
                        f"SELECT {_qualified('u')} FROM client_tokens c JOIN uploads u USING (upload_id) "
                        "WHERE c.principal = ? AND c.organization_id = ? AND c.client_token = ? "
                        "AND c.expires_at > ?",
                        (upload.principal, upload.organization_id, upload.client_token, int(recorded_at)),
                    ).fetchone()
                    if row is not None:
                        results.append(Recorded(_upload(row), created=False))
                        continue
                    connection.execute(
                        "INSERT OR REPLACE INTO client_tokens VALUES (?, ?, ?, ?, ?)",
                        (
                            upload.principal,
                            upload.organization_id,
                            upload.client_token,
                            upload.upload_id,
                            client_token_expiry(recorded_at),
                        ),
                    )
                connection.execute(
                    f"INSERT INTO uploads ({_UPLOAD_COLUMNS}, request) VALUES ({_marks(18)})",
                    (
                        upload.upload_id,
                        number,
                        upload.file_key,
                        upload.principal,
                        upload.organization_id,
                        UploadState.UPLOADING.value,
                        upload.content_type,
                        upload.file_size,
                        upload.single,
                        upload.overwrite,
                        upload.client_token,
                        now,
                        now,
                        None,
                        None,
                        None,
                        None,
                        upload.request_json,
                    ),
                )
                results.append(Recorded(Upload.started(number, upload, now), created=True))
        return results

    def find(self, upload_id: str) -> Upload | None:
        return self.find_many([upload_id]).get(upload_id)

    def find_many(self, upload_ids: Sequence[str]) -> dict[str, Upload]:
        if not upload_ids:
            return {}
        with self._db.connection() as connection:
            rows = connection.execute(
                f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE upload_id IN ({_marks(len(upload_ids))})",
                tuple(upload_ids),
            ).fetchall()
        return {upload.upload_id: upload for upload in map(_upload, rows)}

    def find_client_tokens(
        self, principal: str, organization_id: str, tokens: Sequence[str]
    ) -> dict[str, Upload]:
        if not tokens:
            return {}
        with self._db.connection() as connection:
            rows = connection.execute(
                f"SELECT c.client_token, {_qualified('u')} "
                "FROM client_tokens c JOIN uploads u USING (upload_id) "
                "WHERE c.principal = ? AND c.organization_id = ? "
                f"AND c.client_token IN ({_marks(len(tokens))}) AND c.expires_at > ?",
                (principal, organization_id, *tokens, int(time.time())),
            ).fetchall()
        return {str(row[0]): _upload(row[1:]) for row in rows}

    def list_uploads(
        self,
        principal: str,
        organization_id: str,
        *,
        state: UploadState | None,
        limit: int,
        before: int | None = None,
    ) -> list[Upload]:
        conditions, values = ["principal = ?", "organization_id = ?"], [principal, organization_id]
        if state is not None:
            conditions.append("state = ?")
            values.append(state.value)
        if before is not None:
            conditions.append("file_number < ?")
            values.append(str(before))
        with self._db.connection() as connection:
            rows = connection.execute(
                f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE {' AND '.join(conditions)} "
                "ORDER BY file_number DESC LIMIT ?",
                (*values, limit),
            ).fetchall()
        return [_upload(row) for row in rows]

    def mark_finished(self, upload: Upload, finish: Finish, publication: Publication | None = None) -> Upload:
        now = utc_now()
        with self._db.write() as connection:
            if publication is not None:
                if _version(connection, publication.file_key) != publication.version:
                    raise PublicationLostError(publication.file_key)
                _store_publication(connection, publication.published_by(upload))
            connection.execute(
                "UPDATE uploads SET state = ?, updated_at = ?, finished_at = ?, size = ?, url = ?, etag = ? "
                "WHERE upload_id = ?",
                (
                    UploadState.FINISHED.value,
                    now,
                    now,
                    finish.size,
                    finish.url,
                    finish.etag,
                    upload.upload_id,
                ),
            )
        return upload.finished(finish, now)

    def mark_aborted(self, upload: Upload) -> None:
        with self._db.write() as connection:
            connection.execute(
                "UPDATE uploads SET state = ?, updated_at = ? WHERE upload_id = ?",
                (UploadState.ABORTED.value, utc_now(), upload.upload_id),
            )

    def get_publications(self, keys: Sequence[str]) -> dict[str, Publication]:
        if not keys:
            return {}
        with self._db.connection() as connection:
            rows = connection.execute(
                f"SELECT * FROM publications WHERE file_key IN ({_marks(len(keys))})", tuple(keys)
            ).fetchall()
        return {publication.file_key: publication for publication in map(_publication, rows)}

    def put_publication(self, new: Publication, expected: Publication | None) -> Publication | None:
        with self._db.write() as connection:
            current = _version(connection, new.file_key)
            if current != (expected.version if expected else None):
                return None
            stored = replace(new, version=(current or 0) + 1)
            _store_publication(connection, stored)
        return stored

    def delete_publication(self, expected: Publication) -> bool:
        with self._db.write() as connection:
            deleted = connection.execute(
                "DELETE FROM publications WHERE file_key = ? AND version = ?",
                (expected.file_key, expected.version),
            ).rowcount
        return deleted == 1


def _qualified(alias: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in _UPLOAD_COLUMNS.split(","))


def _version(connection: sqlite3.Connection, key: str) -> int | None:
    row = connection.execute("SELECT version FROM publications WHERE file_key = ?", (key,)).fetchone()
    return None if row is None else int(row[0])


def _store_publication(connection: sqlite3.Connection, publication: Publication) -> None:
    connection.execute(
        "INSERT OR REPLACE INTO publications VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            publication.file_key,
            publication.organization_id,
            publication.principal,
            publication.upload_id,
            publication.state.value,
            publication.since,
            publication.holds_until,
            publication.version,
        ),
    )


class SqliteTokenStore(TokenStore):
    """Hashed tokens in a `SqliteDatabase`."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    def _insert(self, record: TokenRecord) -> bool:
        with self._db.write() as connection:
            inserted = connection.execute(
                "INSERT OR IGNORE INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.token_hash,
                    record.principal,
                    record.organization_id,
                    record.key_prefix,
                    record.expires_at,
                    record.revoked,
                    record.created_at,
                ),
            ).rowcount
        return inserted == 1

    def _get(self, token_hash: str) -> TokenRecord | None:
        with self._db.connection() as connection:
            row = connection.execute("SELECT * FROM tokens WHERE token_hash = ?", (token_hash,)).fetchone()
        return None if row is None else _token(row)

    def _all(self) -> list[TokenRecord]:
        with self._db.connection() as connection:
            return [_token(row) for row in connection.execute("SELECT * FROM tokens").fetchall()]

    def _set_revoked(self, token_hash: str) -> bool:
        with self._db.write() as connection:
            changed = connection.execute(
                "UPDATE tokens SET revoked = 1 WHERE token_hash = ?", (token_hash,)
            ).rowcount
        return changed == 1


def _token(row: Sequence[Any]) -> TokenRecord:
    token_hash, principal, organization, prefix, expires_at, revoked, created_at = row
    return TokenRecord(
        token_hash=token_hash,
        principal=principal,
        organization_id=organization,
        key_prefix=prefix,
        expires_at=expires_at,
        revoked=bool(revoked),
        created_at=created_at,
    )
