"""Which job a free worker takes next.

Uploads are served in the order they were added. Among the started ones (`started`, in order): parts
sent before a resume are checked (`VERIFY`, on slots of their own: disk and CPU, not network), an upload
whose parts are all sent and checked is finished, otherwise its next part goes, up to
`per_file_connections` parts of one file at once (parts whose backoff is over first). Then, while fewer
than `start_window` more uploads may be started, the next waiting one is started, or reconciled with the
server after a resume.

On an API with the folder routes, starts and finishes go in batches: the job takes every upload of the
same API that is ready for the same step, up to the API's batch size, so that a folder of small files
costs one API call per step per batch, not per file. A start batch goes when it is full (or takes the
last waiting files): a call for a few files costs the API almost what a full one costs. Batch calls run
on slots of their own (`start_batch`, `finish_batch`), beside the connections to S3. The caller holds
the engine core's lock: picking a job marks it taken (the uploads busy, or the part in flight or being
checked).
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
    parts_behind: int = 0  # for a part: how many more parts of started uploads could go now

    @property
    def upload(self) -> ActiveUpload:
        return self.uploads[0]


@dataclass(frozen=True)
class Slots:
    """What may start now."""

    network: bool  # a part, or one upload's start or finish
    verify: bool  # a check of a part sent before
    per_file_connections: int | None  # None: no cap per file
    start_window: int  # how many more uploads may be started now
    batch_size: Callable[[str], int | None]  # per API URL: files per batch call; 1: none; None: not known yet
    prefetch_below: int = 0  # start the next uploads early while fewer parts than this wait (0: never)
    unstarted: int = 0  # active uploads not started yet
    starting: int = 0  # uploads in a start step now
    start_batch: bool = True  # a batch start (/initializeBatch) may run now
    finish_batch: bool = True  # a batch finish (/finalizeBatch) may run now


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
        # (The cheap tests first: this runs for every started upload at every pick.)
        if upload.busy or not upload.prepared or upload.state not in ACTIVE_STATES:
            continue  # a step of its own runs (no part is in flight then), or nobody works on it
        if upload.unverified and slots.verify and not upload.finished_remotely:
            number = min(upload.unverified)
            upload.unverified.discard(number)
            upload.verifying.add(number)
            return Pick(JobKind.VERIFY, (upload,), number), None
        if upload.in_flight:
            sending = True
        if upload.step_retry_at > now:
            wake_at = _earliest(wake_at, upload.step_retry_at)
            continue
        if upload.ready_to_finish:
            if upload.ready_at is None:
                upload.ready_at = now
            ready.append(upload)
            continue
        if not (upload.pending or upload.retry_at):
            continue  # every part is sent or on its way
        if slots.per_file_connections is not None and len(upload.in_flight) >= slots.per_file_connections:
            continue
        if upload.has_part_due(now):
            sendable = sendable or upload
            waiting_parts += len(upload.pending) + len(upload.retry_at)
        else:
            wake_at = _earliest(wake_at, upload.earliest_retry())
    if ready:
        pick_or_time = _finish(ready, slots, now, last=not (sendable or sending or slots.unstarted))
        if isinstance(pick_or_time, Pick):
            return pick_or_time, None
        wake_at = _earliest(wake_at, pick_or_time)
    if (
        (slots.network or slots.start_batch)
        and slots.start_window > 0
        and (sendable is None or waiting_parts < slots.prefetch_below)
    ):
        pick = _start(waiting, slots, now)
        if isinstance(pick, Pick):
            return pick, None
        wake_at = _earliest(wake_at, pick)
    if sendable is not None and slots.network:
        number = sendable.take_part(now)
        assert number is not None
        sendable.in_flight[number] = 0
        return Pick(JobKind.PART, (sendable,), number, parts_behind=waiting_parts - 1), None
    return None, wake_at


def _finish(ready: list[ActiveUpload], slots: Slots, now: float, *, last: bool) -> Pick | float | None:
    """The finish of the first ready upload (with the others of its API, in a batch), or when it may
    go: one by one at once, or in a batch once it is full, they are the `last` (nothing else is being
    sent or waits to start), or the first of them has waited `FINISH_DELAY` (so that "done" never lags
    far behind). None: no slot for it now."""
    first = ready[0]
    size = slots.batch_size(first.record.api_url) or 1
    if not (slots.finish_batch if size > 1 else slots.network):
        return None
    batch = [u for u in ready if u.record.api_url == first.record.api_url][:size]
    assert first.ready_at is not None
    if size > 1 and not last and len(batch) < size and first.ready_at + FINISH_DELAY > now:
        return first.ready_at + FINISH_DELAY
    for upload in batch:
        upload.busy, upload.ready_at = True, None
    if size == 1:
        return Pick(JobKind.FINALIZE, (first,))
    return Pick(JobKind.FINISH_BATCH, tuple(batch))


def _start(waiting: Iterable[ActiveUpload], slots: Slots, now: float) -> Pick | float | None:
    """A start (or a batch of them), else when a backoff ends."""
    wake_at: float | None = None
    probing: set[str] = set()  # APIs whose kind a running step is finding out
    batch: list[ActiveUpload] = []
    batch_size = 1
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
                if len(batch) >= batch_size:
                    break
            continue
        if size is None and api_url in probing:
            continue  # one step finds out the API's kind; the others wait for it
        if size is not None and size > 1 and upload.needs_start:
            # Files start in order: the next one waits for a batch slot, and for a window that holds
            # a full batch (or all the files left).
            if not slots.start_batch or slots.start_window < min(size, slots.unstarted - slots.starting):
                return wake_at
            batch, batch_size = [upload], size
            continue
        if not slots.network:
            continue
        upload.busy = True
        return Pick(JobKind.PREPARE, (upload,))
    # A full batch, or the last waiting files, once the window holds them all.
    if batch and len(batch) <= slots.start_window:
        for upload in batch:
            upload.busy = True
        return Pick(JobKind.START_BATCH, tuple(batch))
    return wake_at


def _earliest(current: float | None, candidate: float | None) -> float | None:
    if candidate is None:
        return current
    return candidate if current is None else min(current, candidate)
