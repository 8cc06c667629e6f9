"""What a worker is asked to do, what it reports back, and the narrow interface it talks to.

A `Job` carries an immutable snapshot of what the worker needs (the journal record, the part plan, the
upload id, the URL signer, the stopper), so a worker never reads or writes the engine's shared state.
It runs the job's I/O and hands an outcome back through `WorkerHost.complete`; the engine alone decides
what the outcome means for the upload (state, retries, journal).
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from app.core.api import ApiClient, ApiInfo, PresignedUrl
from app.core.bandwidth import BandwidthLimiter
from app.core.errors import UploadError
from app.core.journal import JournalPart, JournalUpload
from app.core.planner import PartPlan
from app.core.signing import UrlSigner
from app.core.transfer import PartStopper


class JobKind(enum.Enum):
    PREPARE = "prepare"  # start the multipart upload, or reconcile a resumed one with the server
    PART = "part"  # send one part
    VERIFY = "verify"  # re-read a part sent before and compare its MD5 with the ETag S3 holds
    FINALIZE = "finalize"  # complete the upload and check its link
    START_BATCH = "start_batch"  # start several uploads in one call (/initializeBatch)
    FINISH_BATCH = "finish_batch"  # finish several uploads in one call (/finalizeBatch)


@dataclass(frozen=True)
class Job:
    kind: JobKind
    record: JournalUpload  # the upload as the journal had it when the job was taken
    plan: PartPlan
    generation: int  # the plan's generation: a job of an older plan is void
    stopper: PartStopper
    upload_id: str | None = None
    signer: UrlSigner | None = None
    part_number: int = 0
    send_seconds: float = 0.0  # PART: how long the part is expected to take (its URL must outlive it)
    known_parts: Mapping[int, JournalPart] = field(default_factory=dict)  # all but PART
    part_size_fixed: bool = False  # the user chose the part size: never re-plan it
    check_remote_first: bool = False  # FINALIZE on the existing deployment after a resume
    single: bool = False  # one PUT of the whole file (part 1) to the API's URL, with `put_headers`
    put_headers: Mapping[str, str] = field(default_factory=dict)
    batch: tuple[Job, ...] = ()  # START_BATCH, FINISH_BATCH: one job per upload

    @property
    def upload_ref(self) -> int:
        return self.record.id


# --- outcomes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """The upload can take parts: it was started (`started`) or reconciled with the server."""

    upload_id: str
    plan: PartPlan
    parts: Mapping[int, JournalPart]  # the parts that count as sent
    forget: tuple[int, ...] = ()  # recorded parts the server does not hold (to drop from the journal)
    adopt: tuple[JournalPart, ...] = ()  # parts the server holds that the journal missed
    started: bool = False  # a new multipart upload, or a new plan: the journal records both
    urls: Mapping[int, PresignedUrl] = field(default_factory=dict)  # part URLs signed already
    verify: tuple[int, ...] = ()  # parts sent before whose bytes are to be checked against the file
    finished: bool = False  # S3 has completed the object already (only the API's record is missing)
    parts_expire_at: float | None = None  # started: when the server deletes its parts
    single: bool = False  # one PUT: `urls[1]` is its URL, to be sent with `put_headers`
    put_headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Gone:
    """The server no longer has the upload (aborted, or removed by the bucket's clean-up rule)."""

    error: UploadError


@dataclass(frozen=True)
class Verified:
    matches: bool  # the file's bytes have the MD5 of the ETag S3 holds for the part


@dataclass(frozen=True)
class PartSent:
    etag: str
    size: int


@dataclass(frozen=True)
class Finalized:
    url: str | None
    link_verified: bool | None


@dataclass(frozen=True)
class Stopped:
    """The job was stopped on purpose (pause, cancel, shutdown) or its plan changed: nothing is wrong."""


@dataclass(frozen=True)
class UrlExpired:
    error: UploadError


@dataclass(frozen=True)
class Failed:
    error: UploadError


@dataclass(frozen=True)
class BatchDone:
    """What a batch job did for each of its uploads, by upload number."""

    results: Mapping[int, Prepared | Gone | Finalized | Failed]


Outcome = Prepared | Gone | PartSent | Verified | Finalized | Stopped | UrlExpired | Failed | BatchDone


class WorkerHost(Protocol):
    """All a worker may ask of the engine."""

    @property
    def closing(self) -> threading.Event:
        """Set when the engine shuts down; waits that should end then wait on it."""
        ...

    @property
    def limiter(self) -> BandwidthLimiter: ...

    def next_job(self, worker_index: int) -> Job | None:
        """Block until there is work for this worker; None when it should exit."""
        ...

    def api(self, api_url: str) -> ApiClient: ...

    def api_info(self, api_url: str) -> ApiInfo:
        """The API's kind, probed once per sign-in (network I/O on first use)."""
        ...

    def progress(self, job: Job, amount: int) -> None:
        """`amount` more bytes of the job's part were handed to the network."""
        ...

    def complete(self, job: Job, outcome: Outcome) -> None:
        """The job ended with `outcome` (called exactly once per job)."""
        ...
