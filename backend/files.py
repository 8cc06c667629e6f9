"""What the API records about uploads, and the `FileStore` interface every handler uses for it.

Two implementations keep these records: `backend.stores.dynamodb` (the `Files` table, on Lambda)
and `backend.stores.sqlite` (one SQLite file, for the local stack). Both pass the same contract
tests (tests/backend/test_stores.py), so a handler never knows which one it runs on.

Records:
- an **upload**: numbered by an atomic counter (`file_number`), found by its `upload_id` (the S3
  UploadId, or the API's own id for a single-PUT file), owned by a principal *and* organisation;
- a **client token**: the client's idempotency key for starting an upload, kept
  `CLIENT_TOKEN_DAYS` days, that maps to the upload it started;
- a **publication**: who owns the object at a key (`PUBLISHED`), or who is writing it right now
  (`CLAIMED`, until `holds_until`). Changed only by compare-and-swap on its `version`, which is
  what makes "no overwrite" and "only your organisation may overwrite" atomic on every store.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

CLIENT_TOKEN_DAYS = 7
CLIENT_TOKEN_SECONDS = CLIENT_TOKEN_DAYS * 24 * 3600


class UploadState(StrEnum):
    UPLOADING = "uploading"
    FINISHED = "finished"
    ABORTED = "aborted"


class PublicationState(StrEnum):
    CLAIMED = "claimed"
    """An upload is writing the key right now; the claim lapses at `holds_until`."""
    PUBLISHED = "published"
    """The object at the key was published through the API by `organization_id`."""


def utc_now() -> str:
    return iso_time(time.time())


def iso_time(epoch: float) -> str:
    """ISO 8601 UTC, to the second: `2026-01-31T12:00:00Z`."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def owner_id(principal: str, organization_id: str) -> str:
    """One string for a (principal, organisation) pair, unambiguous whatever characters they hold."""
    return json.dumps([organization_id, principal], ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class NewUpload:
    """What a start records about an upload (its number is reserved separately)."""

    upload_id: str
    file_key: str
    principal: str
    organization_id: str
    request_json: str
    content_type: str
    file_size: int | None = None
    single: bool = False
    """One presigned PutObject instead of a multipart upload; `upload_id` is then the API's own id."""
    overwrite: bool = False
    client_token: str | None = None


@dataclass(frozen=True)
class Upload:
    """One upload as the store holds it."""

    upload_id: str
    file_number: int
    file_key: str
    principal: str
    organization_id: str
    state: UploadState
    content_type: str = ""
    file_size: int | None = None
    single: bool = False
    overwrite: bool = False
    client_token: str | None = None
    created_at: str = ""
    updated_at: str = ""
    size: int | None = None
    url: str | None = None
    etag: str | None = None
    finished_at: str | None = None

    @classmethod
    def started(cls, number: int, new: NewUpload, now: str) -> Upload:
        """The record of `new`, just recorded as upload `number` at `now`."""
        return cls(
            upload_id=new.upload_id,
            file_number=number,
            file_key=new.file_key,
            principal=new.principal,
            organization_id=new.organization_id,
            state=UploadState.UPLOADING,
            content_type=new.content_type,
            file_size=new.file_size,
            single=new.single,
            overwrite=new.overwrite,
            client_token=new.client_token,
            created_at=now,
            updated_at=now,
        )

    def finished(self, finish: Finish, now: str) -> Upload:
        """This upload as recorded when it finished at `now`."""
        return replace(
            self,
            state=UploadState.FINISHED,
            updated_at=now,
            finished_at=now,
            size=finish.size,
            url=finish.url,
            etag=finish.etag,
        )

    def owned_by(self, principal: str, organization_id: str) -> bool:
        return self.principal == principal and self.organization_id == organization_id

    @property
    def finish(self) -> Finish:
        """What finishing recorded (meaningful once `state` is FINISHED)."""
        return Finish(size=self.size or 0, url=self.url, etag=self.etag)


@dataclass(frozen=True)
class Finish:
    """What finishing recorded: the object's size, CDN URL (None without a CDN) and ETag."""

    size: int
    url: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class Recorded:
    """The outcome of recording a new upload.

    `created` is False when the upload's client token already belonged to another upload (a
    concurrent or earlier call): `upload` is then that other upload, and the caller should undo
    whatever it started for its own.
    """

    upload: Upload
    created: bool


@dataclass(frozen=True)
class Publication:
    """Who owns, or is writing, the object at `file_key`."""

    file_key: str
    organization_id: str
    principal: str
    upload_id: str
    state: PublicationState
    since: float
    """Epoch seconds of the claim or of the publication."""
    holds_until: float = 0.0
    """For a claim: when it lapses (its writer is then presumed dead). Unused once published."""
    version: int = 0
    """Bumped by every write; `put_publication` swaps only when the stored version is `expected`'s."""

    def live_claim(self, now: float) -> bool:
        return self.state is PublicationState.CLAIMED and now < self.holds_until

    def published_by(self, upload: Upload) -> Publication:
        """The record that replaces this one when `upload` publishes the key (version bumped)."""
        return Publication(
            file_key=upload.file_key,
            organization_id=upload.organization_id,
            principal=upload.principal,
            upload_id=upload.upload_id,
            state=PublicationState.PUBLISHED,
            since=time.time(),
            version=self.version + 1,
        )


class PublicationLostError(Exception):
    """Finishing expected to hold the key's claim, but another writer had taken it over."""


class FileStore(ABC):
    """The uploads, client tokens and publications of one deployment."""

    @abstractmethod
    def reserve_numbers(self, count: int) -> int:
        """Reserve `count` consecutive upload numbers atomically; returns the first (1 for the very first)."""

    def next_number(self) -> int:
        """Reserve one upload number (the existing deployment's atomic counter)."""
        return self.reserve_numbers(1)

    def record(self, number: int, upload: NewUpload) -> Recorded:
        """Record one started upload: `record_many` with one entry."""
        return self.record_many([(number, upload)])[0]

    @abstractmethod
    def record_many(self, entries: Sequence[tuple[int, NewUpload]]) -> list[Recorded]:
        """Record started uploads, in order. Each is written atomically with its client token, if any.

        An entry whose client token (same principal and organisation) is already recorded and not
        expired is not written: its result is the existing upload with `created=False`.
        """

    @abstractmethod
    def find(self, upload_id: str) -> Upload | None:
        """The upload with this id, or None (strongly consistent)."""

    @abstractmethod
    def find_many(self, upload_ids: Sequence[str]) -> dict[str, Upload]:
        """The uploads that exist among `upload_ids`, by id (strongly consistent)."""

    @abstractmethod
    def find_client_tokens(
        self, principal: str, organization_id: str, tokens: Sequence[str]
    ) -> dict[str, Upload]:
        """client token → the upload it started, for the owner's unexpired tokens among `tokens`."""

    @abstractmethod
    def mark_finished(self, upload: Upload, finish: Finish, publication: Publication | None = None) -> Upload:
        """Record the upload finished; returns it as now stored.

        With `publication` (the key's current record, claimed or published by this upload), the
        key is published by this upload in the same atomic write; raises `PublicationLostError` if
        that record changed meanwhile (nothing is written then).
        """

    @abstractmethod
    def mark_aborted(self, upload: Upload) -> None:
        """Record the upload aborted."""

    @abstractmethod
    def list_uploads(
        self,
        principal: str,
        organization_id: str,
        *,
        state: UploadState | None,
        limit: int,
        before: int | None = None,
    ) -> list[Upload]:
        """The owner's uploads, newest (highest number) first, numbered below `before` when given.

        At most `limit`; `state` None means every state. May lag a write by a moment on DynamoDB
        (read from an index), never on SQLite.
        """

    @abstractmethod
    def get_publications(self, keys: Sequence[str]) -> dict[str, Publication]:
        """The publication records that exist among `keys`, by key (strongly consistent)."""

    @abstractmethod
    def put_publication(self, new: Publication, expected: Publication | None) -> Publication | None:
        """Compare-and-swap: store `new` if the key's record is still `expected` (None: absent).

        Returns the stored record (its `version` bumped), or None when the record had changed.
        """

    @abstractmethod
    def delete_publication(self, expected: Publication) -> bool:
        """Delete the key's record if it is still `expected`; False when it had changed."""


def client_token_expiry(recorded_epoch: float) -> int:
    """When a client token recorded at `recorded_epoch` stops being honoured (epoch seconds)."""
    return int(recorded_epoch) + CLIENT_TOKEN_SECONDS
