"""The engine's working state for one upload: which parts are done, in flight, waiting or backing off.

An `ActiveUpload` is guarded by the engine core's lock; nothing here does I/O. The one lock here,
`_MAKING`, guards the stop event and speed meter that an upload makes on first use: progress reports and
failures read them outside the core's lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from app.core.journal import JournalPart, JournalUpload
from app.core.models import UploadState, UploadStatus
from app.core.planner import PartPlan
from app.core.progress import SpeedMeter, eta_seconds
from app.core.signing import UrlSigner
from app.core.transfer import PartStopper

WARN_BEFORE_EXPIRY = 24 * 3600.0  # seconds
_MAKING = threading.Lock()  # guards the first use of an upload's stopper and speed meter


@dataclass(slots=True)
class ActiveUpload:
    """One upload as the engine works on it. Mutated only by the engine core, under its lock (the stop
    event and speed meter it makes on first use: under `_MAKING`)."""

    record: JournalUpload
    plan: PartPlan
    done: dict[int, JournalPart]
    state: UploadState
    message: str | None = None
    upload_id: str | None = None
    url: str | None = None
    link_verified: bool | None = None
    finished_at: float | None = None
    # Scheduling
    prepared: bool = False  # initialized or reconciled with the server in this run
    busy: bool = False  # a prepare or finalize step is running
    pending: deque[int] = field(default_factory=deque)  # parts to send, lowest first
    in_flight: dict[int, int] = field(default_factory=dict)  # part number -> bytes sent so far
    attempts: dict[int, int] = field(default_factory=dict)  # part number -> failed attempts
    retry_at: dict[int, float] = field(default_factory=dict)  # part number -> monotonic time
    step_attempts: int = 0  # failed prepare/finalize attempts
    step_retry_at: float = 0.0
    plan_generation: int = 0  # bumped when the plan or the multipart upload changes
    part_size_fixed: bool = False  # the user chose the part size: it is never re-planned
    signer: UrlSigner | None = None  # the URLs of the current multipart upload and plan
    expirations: dict[int, int] = field(default_factory=dict)  # part number -> expired URLs in a row
    # Made on first use (`stopper`, `meter`): 10,000 queued or finished uploads need neither.
    _stopper: PartStopper | None = field(default=None, repr=False)
    _meter: SpeedMeter | None = field(default=None, repr=False)
    progress_dirty: bool = False
    sent_elsewhere: bool = False  # another process held its lock when this one last tried
    # Parts sent before this run (or before a pause) are re-read and compared with S3's ETag:
    unverified: set[int] = field(default_factory=set)  # parts waiting for their check
    verifying: set[int] = field(default_factory=set)  # parts being checked
    parts_to_check: int = 0
    parts_checked: int = 0
    parts_resent: int = 0
    finished_remotely: bool = False  # S3 holds the completed object: only /finalize's record is missing
    check_remote_first: bool = False  # resumed on the existing deployment: look for the object first
    restarts: int = 0  # times the server lost the upload and it started again, in this run
    single: bool = False  # sent as one PUT (the API's folder routes): `upload_id` is the API's id
    put_headers: dict[str, str] = field(default_factory=dict)  # single: the headers its PUT must send
    expiry_warned: bool = False  # the last status sent carried an expiry warning
    ready_at: float | None = None  # when the scheduler first saw it ready to finish (time.monotonic)
    passing_note: bool = False  # `message` says a retry is scheduled; cleared when something goes through
    # Held from a state change in memory until the journal has it, so that the journal sees the
    # changes of one upload in the order they were made.
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def stopper(self) -> PartStopper:
        """Stops the sends of this run of the upload (a resume gets a new one)."""
        with _MAKING:  # read outside the core's lock too: two threads must never get two stoppers
            stopper = self._stopper
            if stopper is None:
                stopper = self._stopper = PartStopper()
            return stopper

    @property
    def meter(self) -> SpeedMeter:
        with _MAKING:
            meter = self._meter
            if meter is None:
                meter = self._meter = SpeedMeter()
            return meter

    def stop_sends(self) -> None:
        """Stop the sends in flight, if any (an upload that never sent has no stopper to make)."""
        with _MAKING:
            stopper = self._stopper
        if stopper is not None:
            stopper.stop()

    def forget_sending_state(self) -> None:
        """Keep what a finished upload's status shows, not what sending it needed (its URLs, its stop
        event, its speed samples): 10,000 finished uploads held ~45 MiB of them."""
        self.signer = None
        with _MAKING:
            self._stopper = None
            self._meter = None
        self.put_headers = {}
        self.pending = deque()

    @property
    def bytes_done(self) -> int:
        return sum(part.size for part in self.done.values()) + sum(self.in_flight.values())

    @property
    def complete(self) -> bool:
        """Every part is recorded as sent."""
        return len(self.done) == self.plan.count

    @property
    def needs_start(self) -> bool:
        """Not started on the server, or a single PUT (asked again for its URL, by its idempotency key)."""
        return self.upload_id is None or (self.single and not self.complete)

    @property
    def ready_to_finish(self) -> bool:
        """Every part is sent and checked (or S3 has completed the object already)."""
        if self.finished_remotely:
            return True
        return self.complete and not self.in_flight and not self.unverified and not self.verifying

    def rebuild_pending(self) -> None:
        """Queue every part that is not done, in order (after a plan, a reconcile or a resume)."""
        self.pending = deque(n for n in range(1, self.plan.count + 1) if n not in self.done)
        self.retry_at.clear()

    def take_part(self, now: float) -> int | None:
        """Take the next part to send: a part whose backoff is over first, then the lowest waiting one."""
        for number, at in sorted(self.retry_at.items()):
            if at <= now:
                del self.retry_at[number]
                return number
        while self.pending:
            number = self.pending.popleft()
            if number not in self.done and number not in self.in_flight:
                return number
        return None

    def has_part_due(self, now: float) -> bool:
        """A part is waiting to be sent now (not in backoff)."""
        if any(at <= now for at in self.retry_at.values()):
            return True
        return any(n not in self.done and n not in self.in_flight for n in self.pending)

    def put_back(self, number: int) -> None:
        """A part taken but not sent (stopped): it goes first next time."""
        self.pending.appendleft(number)

    def earliest_retry(self) -> float | None:
        """When the next part in backoff may go, if any waits."""
        return min(self.retry_at.values()) if self.retry_at else None

    def reset_for_resume(self) -> None:
        """Forget failures and backoffs so that a resumed upload starts afresh."""
        self.attempts.clear()
        self.expirations.clear()
        self.rebuild_pending()
        self.step_attempts = 0
        self.step_retry_at = 0.0
        self.message = None
        with _MAKING:
            self._stopper = None  # a new one on first use
            meter = self._meter
        if meter is not None:
            meter.reset()
        self.restarts = 0

    def snapshot(self, now: float | None = None) -> UploadStatus:
        speed = self.meter.speed() if self.state is UploadState.UPLOADING else 0.0
        finished = self.state is UploadState.DONE  # its part records may be gone (see Journal.set_finished)
        bytes_done = self.record.size if finished else self.bytes_done
        return UploadStatus(
            id=self.id,
            path=self.record.path,
            key=self.record.key,
            api_url=self.record.api_url,
            size=self.record.size,
            bytes_done=bytes_done,
            state=self.state,
            parts_done=self.plan.count if finished else len(self.done),
            parts_total=self.plan.count,
            speed=speed,
            eta=eta_seconds(self.record.size - bytes_done, speed)
            if self.state is UploadState.UPLOADING
            else None,
            url=self.url,
            link_verified=self.link_verified,
            message=self.message,
            upload_id=self.upload_id,
            created_at=self.record.created_at,
            finished_at=self.finished_at,
            sent_elsewhere=self.sent_elsewhere,
            parts_to_check=self.parts_to_check,
            parts_checked=self.parts_checked,
            parts_resent=self.parts_resent,
            parts_expire_at=None if finished else self.record.parts_expire_at,
            expiry_warning=None if finished else expiry_warning(self.record.parts_expire_at, now),
        )


def expiry_warning(expires_at: float | None, now: float | None = None) -> str | None:
    """A sentence from a day before the server deletes an unfinished upload's parts."""
    if expires_at is None:
        return None
    remaining = expires_at - (time.time() if now is None else now)
    if remaining > WARN_BEFORE_EXPIRY:
        return None
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(expires_at))
    if remaining <= 0:
        return (
            f"The server's clean-up rule has probably deleted the parts sent so far ({when}); resuming "
            "sends the file again from its first part."
        )
    return (
        f"The server deletes the parts sent so far on {when}, unless the upload finishes before; "
        "resume it now to keep them."
    )


def status_from_record(record: JournalUpload) -> UploadStatus:
    """A snapshot of a finished upload that is only in the journal (history)."""
    return UploadStatus(
        id=record.id,
        path=record.path,
        key=record.key,
        api_url=record.api_url,
        size=record.size,
        bytes_done=record.size,
        state=record.state,
        url=record.url,
        link_verified=record.link_verified,
        message=record.message,
        upload_id=record.upload_id,
        created_at=record.created_at,
        finished_at=record.finished_at,
    )
