"""Which job a free worker takes next.

Uploads are served in the order they were added. Among the started ones (`started`, in order): parts
sent before a resume are checked (`VERIFY`, on slots of their own: disk and CPU, not network), an upload
whose parts are all sent and checked is finished, otherwise its next part goes, up to
`per_file_connections` parts of one file at once (parts whose backoff is over first). Then, while fewer
than `start_window` more uploads may be started, the next waiting one is started, or reconciled with the
server after a resume.

On an API with the folder routes, starts and finishes go in batches: the job takes every upload of the
same API that is ready for the same step, up to the API's batch size, so that a folder of small files
costs one API call per step per batch, not per file. The caller holds the engine core's lock: picking a
job marks it taken (the uploads busy, or the part in flight or being checked).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.core.jobs import JobKind
from app.core.states import ACTIVE_STATES
from app.core.upload import ActiveUpload

FINISH_DELAY = 0.5  # seconds a finished file may wait for others to share its /finalizeBatch call


@dataclass(frozen=True)
class Pick:
    kind: JobKind
    uploads: tuple[ActiveUpload, ...]  # one, or several for a batch
    part_number: int = 0

    @property
    def upload(self) -> ActiveUpload:
        return self.uploads[0]


@dataclass(frozen=True)
class Slots:
    """What may start now."""

    network: bool  # a start, a part or a finish
    verify: bool  # a check of a part sent before
    per_file_connections: int | None  # None: no cap per file
    start_window: int  # how many more uploads may be started now
    batch_size: Callable[[str], int | None]  # per API URL: files per batch call; 1: none; None: not known yet
    prefetch_below: int = 0  # start the next uploads early while fewer parts than this wait (0: never)
    unstarted: int = 0  # active uploads not started yet


def pick_job(
    started: Iterable[ActiveUpload], waiting: Iterable[ActiveUpload], slots: Slots, now: float
) -> tuple[Pick | None, float | None]:
    """The next job, or None and when (time.monotonic) a backoff ends and a job may be there.

    Uploads are started just in time: when no started upload has a part for a free connection, or,
    with `prefetch_below`, a little ahead (while few parts wait), so that connections never idle
    while the next batch is being started.
    """
    wake_at: float | None = None
    ready: list[ActiveUpload] = []  # started and ready to finish, in order (for a batch)
    sendable: ActiveUpload | None = None  # the first upload with a part to send now
    waiting_parts = 0
    sending = False  # parts are in flight
    for upload in started:
        if upload.state not in ACTIVE_STATES or not upload.prepared:
            continue
        if slots.verify and upload.unverified and not upload.finished_remotely:
            number = min(upload.unverified)
            upload.unverified.discard(number)
            upload.verifying.add(number)
            return Pick(JobKind.VERIFY, (upload,), number), None
        sending = sending or bool(upload.in_flight)
        if not slots.network or upload.busy:
            continue
        if upload.step_retry_at > now:
            wake_at = _earliest(wake_at, upload.step_retry_at)
            continue
        if upload.ready_to_finish:
            if upload.ready_at is None:
                upload.ready_at = now
            ready.append(upload)
            continue
        if slots.per_file_connections is not None and len(upload.in_flight) >= slots.per_file_connections:
            continue
        if upload.has_part_due(now):
            sendable = sendable or upload
            waiting_parts += len(upload.pending) + len(upload.retry_at)
        else:
            wake_at = _earliest(wake_at, upload.earliest_retry())
    if ready:
        finish_at = _finish_at(ready, slots, last=not (sendable or sending or slots.unstarted))
        if finish_at <= now:
            return _finish(ready, slots), None
        wake_at = _earliest(wake_at, finish_at)
    if (
        slots.network
        and slots.start_window > 0
        and (sendable is None or waiting_parts < slots.prefetch_below)
    ):
        pick = _start(waiting, slots, now)
        if isinstance(pick, Pick):
            return pick, None
        wake_at = _earliest(wake_at, pick)
    if sendable is not None:
        number = sendable.take_part(now)
        assert number is not None
        sendable.in_flight[number] = 0
        return Pick(JobKind.PART, (sendable,), number), None
    return None, wake_at


def _finish_at(ready: list[ActiveUpload], slots: Slots, *, last: bool) -> float:
    """When the ready uploads are finished: at once one by one, or in a batch once it is full, they
    are the `last` (nothing else is being sent or waits to start), or the first of them has waited
    `FINISH_DELAY` (so that "done" never lags far behind)."""
    first = ready[0]
    size = slots.batch_size(first.record.api_url) or 1
    assert first.ready_at is not None
    if size == 1 or last or sum(1 for u in ready if u.record.api_url == first.record.api_url) >= size:
        return first.ready_at
    return first.ready_at + FINISH_DELAY


def _finish(ready: list[ActiveUpload], slots: Slots) -> Pick:
    first = ready[0]
    size = slots.batch_size(first.record.api_url) or 1
    batch = tuple(u for u in ready if u.record.api_url == first.record.api_url)[:size]
    for upload in batch:
        upload.busy, upload.ready_at = True, None
    return Pick(JobKind.FINISH_BATCH if size > 1 else JobKind.FINALIZE, batch if size > 1 else (first,))


def _start(waiting: Iterable[ActiveUpload], slots: Slots, now: float) -> Pick | float | None:
    """A start (or a batch of them), else when a backoff ends."""
    wake_at: float | None = None
    probing: set[str] = set()  # APIs whose kind a running step is finding out
    batch: list[ActiveUpload] = []
    for upload in waiting:
        if upload.state not in ACTIVE_STATES or upload.prepared:
            continue
        api_url = upload.record.api_url
        size = slots.batch_size(api_url)
        if upload.busy:
            if size is None:
                probing.add(api_url)
            continue
        if upload.step_retry_at > now:
            wake_at = _earliest(wake_at, upload.step_retry_at)
            continue
        if batch:
            if api_url == batch[0].record.api_url and upload.needs_start:
                batch.append(upload)
                if len(batch) >= min(slots.batch_size(api_url) or 1, slots.start_window):
                    break
            continue
        if size is None and api_url in probing:
            continue  # one step finds out the API's kind; the others wait for it
        if size is not None and size > 1 and upload.needs_start:
            batch.append(upload)
            if len(batch) >= min(size, slots.start_window):
                break
            continue
        upload.busy = True
        return Pick(JobKind.PREPARE, (upload,))
    if batch:
        for upload in batch:
            upload.busy = True
        return Pick(JobKind.START_BATCH, tuple(batch))
    return wake_at


def _earliest(current: float | None, candidate: float | None) -> float | None:
    if candidate is None:
        return current
    return candidate if current is None else min(current, candidate)
