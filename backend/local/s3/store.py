"""The embedded S3 server's storage: object and part bytes in files, everything else in SQLite.

Layout under `root`: `index.sqlite3` (WAL) lists buckets, objects, multipart uploads and parts;
`blobs/xx/<id>` hold bytes, each owned by exactly one part or object. A blob is written to
`tmp/`, renamed into `blobs/`, then recorded; a finished multipart upload becomes an object made
of its parts' blobs (no copy). So a process killed at any moment (`kill -9`) leaves the index
consistent: a blob nobody records is deleted at the next start. (Durable against a crash of the
process, not of the machine: nothing is fsynced.)

Callers may rely on: every method is thread-safe; `put_object` and `complete` with
`if_none_match` create the object atomically or raise `PreconditionFailed`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from backend.local.s3.errors import S3Error

CHUNK = 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024
INCOMPLETE_BODY = "You did not provide the number of bytes specified by the Content-Length HTTP header."
NO_SUCH_UPLOAD = (
    "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
    "aborted or completed."
)
INVALID_PART = (
    "One or more of the specified parts could not be found. The part may not have been uploaded, "
    "or the specified entity tag may not match the part's entity tag."
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    modified REAL NOT NULL, headers TEXT NOT NULL, blobs TEXT NOT NULL, PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, initiated REAL NOT NULL,
    headers TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, id);
CREATE TABLE IF NOT EXISTS parts (
    upload TEXT NOT NULL, number INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    md5 BLOB NOT NULL, modified REAL NOT NULL, blob TEXT, PRIMARY KEY (upload, number));
"""


@dataclass(frozen=True)
class Blob:
    """Bytes written to disk: the blob's id (None for zero bytes), size and MD5."""

    id: str | None
    size: int
    md5: bytes


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    size: int
    etag: str
    modified: float
    headers: dict[str, str]
    segments: list[tuple[str, int]] = field(default_factory=list)  # (blob id, size), in order


@dataclass(frozen=True)
class Upload:
    id: str
    bucket: str
    key: str
    initiated: float
    headers: dict[str, str]


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    etag: str
    modified: float


def _quoted(md5: bytes) -> str:
    return f'"{md5.hex()}"'


def multipart_etag(md5s: list[bytes]) -> str:
    """S3's ETag of a multipart object: the MD5 of the parts' MD5s, then `-<number of parts>`."""
    return f'"{hashlib.md5(b"".join(md5s)).hexdigest()}-{len(md5s)}"'


class S3Store:
    """Buckets, objects and multipart uploads kept under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs"
        self._tmp = root / "tmp"
        for folder in (root, self._blobs, self._tmp):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        index = root / "index.sqlite3"
        os.close(os.open(index, os.O_WRONLY | os.O_CREAT, 0o600))  # owner only, and so its -wal and -shm
        self._db = sqlite3.connect(index, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # survives a killed process; commits cost no fsync
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._collect_garbage()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- plumbing --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _path(self, blob: str) -> Path:
        return self._blobs / blob[:2] / blob

    def _delete_blobs(self, blobs: list[str]) -> None:
        for blob in blobs:
            with contextlib.suppress(FileNotFoundError):
                self._path(blob).unlink()

    def _collect_garbage(self) -> None:
        """Delete temporary files and blobs that no part or object records (left by a killed process)."""
        for leftover in self._tmp.iterdir():
            leftover.unlink()
        known = {row[0] for row in self._db.execute("SELECT blob FROM parts WHERE blob IS NOT NULL")}
        for (segments,) in self._db.execute("SELECT blobs FROM objects"):
            known.update(blob for blob, _ in json.loads(segments))
        for folder in self._blobs.iterdir():
            for blob in folder.iterdir():
                if blob.name not in known:
                    blob.unlink()

    def write_blob(
        self, read: Callable[[int], bytes], length: int, *, on_chunk: Callable[[bytes], None] | None = None
    ) -> Blob:
        """Store `length` bytes from `read`; raises `S3Error("IncompleteBody")` when they stop short."""
        md5 = hashlib.md5()
        if length == 0:
            return Blob(None, 0, md5.digest())
        blob = secrets.token_hex(16)
        temporary = self._tmp / blob
        try:
            with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb", 0) as out:
                left = length
                while left:
                    chunk = read(min(CHUNK, left))
                    if not chunk:
                        raise S3Error(
                            "IncompleteBody",
                            INCOMPLETE_BODY,
                        )
                    md5.update(chunk)
                    if on_chunk is not None:
                        on_chunk(chunk)
                    out.write(chunk)
                    left -= len(chunk)
            target = self._path(blob)
            target.parent.mkdir(mode=0o700, exist_ok=True)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise
        return Blob(blob, length, md5.digest())

    def discard(self, blob: Blob) -> None:
        if blob.id is not None:
            self._delete_blobs([blob.id])

    # ---- buckets ---------------------------------------------------------------------------
    def create_bucket(self, name: str) -> None:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone():
                raise S3Error(
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                    resource=name,
                )
            db.execute("INSERT INTO buckets VALUES (?, ?)", (name, time.time()))

    def has_bucket(self, name: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone() is not None

    def buckets(self) -> list[tuple[str, float]]:
        with self._lock:
            return list(self._db.execute("SELECT name, created FROM buckets ORDER BY name"))

    def delete_bucket(self, name: str) -> None:
        with self._transaction() as db:
            self._require_bucket(db, name)
            busy = db.execute(
                "SELECT 1 FROM objects WHERE bucket = ? UNION SELECT 1 FROM uploads WHERE bucket = ?",
                (name, name),
            ).fetchone()
            if busy:
                raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", resource=name)
            db.execute("DELETE FROM buckets WHERE name = ?", (name,))

    @staticmethod
    def _require_bucket(db: sqlite3.Connection, name: str) -> None:
        if db.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone() is None:
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", resource=name)

    # ---- objects ---------------------------------------------------------------------------
    def _replace_object(
        self, db: sqlite3.Connection, obj: StoredObject, *, if_none_match: bool, if_match: str | None
    ) -> list[str]:
        """Write the object's row (checking the preconditions); returns the blobs it replaced."""
        self._require_bucket(db, obj.bucket)
        old = db.execute(
            "SELECT etag, blobs FROM objects WHERE bucket = ? AND key = ?", (obj.bucket, obj.key)
        ).fetchone()
        if old is not None and if_none_match:
            raise S3Error(
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                resource=obj.key,
            )
        if if_match is not None and (old is None or old[0] != if_match):
            if old is None:
                raise S3Error("NoSuchKey", "The specified key does not exist.", resource=obj.key)
            raise S3Error(
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                resource=obj.key,
            )
        db.execute(
            "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                obj.bucket,
                obj.key,
                obj.size,
                obj.etag,
                obj.modified,
                json.dumps(obj.headers),
                json.dumps(obj.segments),
            ),
        )
        return [blob for blob, _ in json.loads(old[1])] if old is not None else []

    def put_object(
        self,
        bucket: str,
        key: str,
        blob: Blob,
        headers: dict[str, str],
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> StoredObject:
        segments = [(blob.id, blob.size)] if blob.id is not None else []
        obj = StoredObject(bucket, key, blob.size, _quoted(blob.md5), time.time(), headers, segments)
        try:
            with self._transaction() as db:
                replaced = self._replace_object(db, obj, if_none_match=if_none_match, if_match=if_match)
        except BaseException:
            self.discard(blob)
            raise
        self._delete_blobs(replaced)
        return obj

    def head(self, bucket: str, key: str) -> StoredObject | None:
        with self._lock:
            row = self._db.execute(
                "SELECT size, etag, modified, headers, blobs FROM objects WHERE bucket = ? AND key = ?",
                (bucket, key),
            ).fetchone()
        if row is None:
            return None
        size, etag, modified, headers, segments = row
        return StoredObject(
            bucket, key, size, etag, modified, json.loads(headers), [tuple(s) for s in json.loads(segments)]
        )

    def read(self, obj: StoredObject, start: int, end: int) -> Iterator[bytes]:
        """The object's bytes `start..end` (inclusive), in chunks."""
        offset = 0
        for blob, size in obj.segments:
            first, last = max(start, offset), min(end, offset + size - 1)
            if first <= last:
                with open(self._path(blob), "rb") as source:
                    source.seek(first - offset)
                    left = last - first + 1
                    while left:
                        chunk = source.read(min(CHUNK, left))
                        if not chunk:
                            raise S3Error("InternalError", f"blob {blob} is shorter than recorded")
                        left -= len(chunk)
                        yield chunk
            offset += size

    def delete_object(self, bucket: str, key: str) -> None:
        with self._transaction() as db:
            self._require_bucket(db, bucket)
            row = db.execute(
                "SELECT blobs FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
            ).fetchone()
            db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        if row is not None:
            self._delete_blobs([blob for blob, _ in json.loads(row[0])])

    def list_objects(
        self, bucket: str, prefix: str, after: str, limit: int
    ) -> tuple[list[StoredObject], bool]:
        """At most `limit` objects under `prefix` whose key sorts after `after`; and whether more exist."""
        with self._lock:
            self._require_bucket(self._db, bucket)
            rows = list(
                self._db.execute(
                    "SELECT key, size, etag, modified FROM objects WHERE bucket = ? AND key > ? "
                    "AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?",
                    (bucket, after, len(prefix), prefix, limit + 1),
                )
            )
        found = [StoredObject(bucket, k, s, e, m, {}) for k, s, e, m in rows[:limit]]
        return found, len(rows) > limit

    # ---- multipart uploads -----------------------------------------------------------------
    def create_upload(self, bucket: str, key: str, headers: dict[str, str]) -> Upload:
        upload = Upload(secrets.token_urlsafe(48), bucket, key, time.time(), headers)
        with self._transaction() as db:
            self._require_bucket(db, bucket)
            db.execute(
                "INSERT INTO uploads VALUES (?, ?, ?, ?, ?)",
                (upload.id, bucket, key, upload.initiated, json.dumps(headers)),
            )
        return upload

    def upload(self, bucket: str, key: str, upload_id: str) -> Upload:
        """The unfinished upload, or `NoSuchUpload`."""
        with self._lock:
            return self._upload(self._db, bucket, key, upload_id)

    @staticmethod
    def _upload(db: sqlite3.Connection, bucket: str, key: str, upload_id: str) -> Upload:
        row = db.execute(
            "SELECT initiated, headers FROM uploads WHERE id = ? AND bucket = ? AND key = ?",
            (upload_id, bucket, key),
        ).fetchone()
        if row is None:
            raise S3Error(
                "NoSuchUpload",
                NO_SUCH_UPLOAD,
                resource=upload_id,
            )
        return Upload(upload_id, bucket, key, row[0], json.loads(row[1]))

    def put_part(self, upload: Upload, number: int, blob: Blob) -> str:
        """Record a part (replacing one with the same number); returns its ETag."""
        etag = _quoted(blob.md5)
        try:
            with self._transaction() as db:
                self._upload(db, upload.bucket, upload.key, upload.id)
                old = db.execute(
                    "SELECT blob FROM parts WHERE upload = ? AND number = ?", (upload.id, number)
                ).fetchone()
                db.execute(
                    "INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (upload.id, number, blob.size, etag, blob.md5, time.time(), blob.id),
                )
        except BaseException:
            self.discard(blob)
            raise
        if old is not None and old[0] is not None:
            self._delete_blobs([old[0]])
        return etag

    def parts(self, upload: Upload, after: int, limit: int) -> tuple[list[Part], bool]:
        with self._lock:
            rows = list(
                self._db.execute(
                    "SELECT number, size, etag, modified FROM parts WHERE upload = ? AND number > ? "
                    "ORDER BY number LIMIT ?",
                    (upload.id, after, limit + 1),
                )
            )
        return [Part(*row) for row in rows[:limit]], len(rows) > limit

    def complete(
        self, upload: Upload, chosen: list[tuple[int, str]], *, if_none_match: bool = False
    ) -> StoredObject:
        """Make the object from the chosen `(PartNumber, ETag)` pairs, as S3 checks them."""
        if not chosen:
            raise S3Error(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema.",
            )
        numbers = [number for number, _ in chosen]
        if numbers != sorted(set(numbers)):
            raise S3Error(
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
            )
        with self._transaction() as db:
            self._upload(db, upload.bucket, upload.key, upload.id)
            stored = {n: (size, etag, md5, blob) for n, size, etag, md5, blob in db.execute(
                "SELECT number, size, etag, md5, blob FROM parts WHERE upload = ?", (upload.id,)
            )}  # fmt: skip
            for index, (number, etag) in enumerate(chosen):
                part = stored.get(number)
                if part is None or part[1].strip('"') != etag.strip('"'):
                    raise S3Error("InvalidPart", INVALID_PART)
                if index < len(chosen) - 1 and part[0] < MIN_PART_SIZE:
                    raise S3Error(
                        "EntityTooSmall",
                        "Your proposed upload is smaller than the minimum allowed object size.",
                    )
            used = [stored[n] for n in numbers]
            segments = [(blob, size) for size, _, _, blob in used if blob is not None]
            obj = StoredObject(
                upload.bucket, upload.key, sum(p[0] for p in used), multipart_etag([p[2] for p in used]),
                time.time(), upload.headers, segments,
            )  # fmt: skip
            replaced = self._replace_object(db, obj, if_none_match=if_none_match, if_match=None)
            db.execute("DELETE FROM parts WHERE upload = ?", (upload.id,))
            db.execute("DELETE FROM uploads WHERE id = ?", (upload.id,))
        unused = [blob for n, (_, _, _, blob) in stored.items() if n not in set(numbers) and blob is not None]
        self._delete_blobs(replaced + unused)
        return obj

    def abort(self, upload: Upload) -> None:
        with self._transaction() as db:
            self._upload(db, upload.bucket, upload.key, upload.id)
            blobs = [
                row[0]
                for row in db.execute(
                    "SELECT blob FROM parts WHERE upload = ? AND blob IS NOT NULL", (upload.id,)
                )
            ]
            db.execute("DELETE FROM parts WHERE upload = ?", (upload.id,))
            db.execute("DELETE FROM uploads WHERE id = ?", (upload.id,))
        self._delete_blobs(blobs)

    def uploads(
        self, bucket: str, prefix: str, after: tuple[str, str], limit: int
    ) -> tuple[list[Upload], bool]:
        """Unfinished uploads by key then id, after `(key, upload id)`; and whether more exist."""
        key_marker, id_marker = after
        with self._lock:
            self._require_bucket(self._db, bucket)
            rows = list(
                self._db.execute(
                    "SELECT id, key, initiated FROM uploads WHERE bucket = ? AND substr(key, 1, ?) = ? "
                    "AND (key > ? OR (key = ? AND id > ?)) ORDER BY key, id LIMIT ?",
                    (bucket, len(prefix), prefix, key_marker, key_marker, id_marker, limit + 1),
                )
            )
        return [Upload(i, bucket, k, t, {}) for i, k, t in rows[:limit]], len(rows) > limit
