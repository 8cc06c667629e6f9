"""Which job a free worker takes next.

Uploads are served in the order they were added: an upload that is not started yet is started (or
reconciled) first, one whose parts are all sent and checked is finalized, otherwise its next part goes,
up to `per_file_connections` parts of one file at once. Parts whose backoff is over go before new ones.
Parts sent before a resume are re-read and checked (`VERIFY`) beside the sending, on slots of their own
(they use the disk and the CPU, not the network). The caller holds the engine core's lock: picking a job
marks it taken (the upload busy, or the part in flight or being checked).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.core.jobs import JobKind
from app.core.states import ACTIVE_STATES
from app.core.upload import ActiveUpload


@dataclass(frozen=True)
class Pick:
    kind: JobKind
    upload: ActiveUpload
    part_number: int = 0


@dataclass(frozen=True)
class Slots:
    """What may start now: a network job (start, part, finish) and/or a check of a part."""

    network: bool
    verify: bool
    per_file_connections: int


def pick_job(uploads: Iterable[ActiveUpload], slots: Slots, now: float) -> tuple[Pick | None, float | None]:
    """The next job, or None and when (time.monotonic) a backoff ends and a job may be there."""
    wake_at: float | None = None
    for upload in uploads:
        if upload.state not in ACTIVE_STATES:
            continue
        if slots.verify and upload.prepared and upload.unverified and not upload.finished_remotely:
            number = min(upload.unverified)
            upload.unverified.discard(number)
            upload.verifying.add(number)
            return Pick(JobKind.VERIFY, upload, number), None
        if not slots.network or upload.busy:
            continue
        if upload.step_retry_at > now:
            wake_at = _earliest(wake_at, upload.step_retry_at)
            continue
        if not upload.prepared:
            upload.busy = True
            return Pick(JobKind.PREPARE, upload), None
        if upload.ready_to_finish:
            upload.busy = True
            return Pick(JobKind.FINALIZE, upload), None
        if len(upload.in_flight) >= slots.per_file_connections:
            continue
        number = upload.take_part(now)
        if number is not None:
            upload.in_flight[number] = 0
            return Pick(JobKind.PART, upload, number), None
        wake_at = _earliest(wake_at, upload.earliest_retry())
    return None, wake_at


def _earliest(current: float | None, candidate: float | None) -> float | None:
    if candidate is None:
        return current
    return candidate if current is None else min(current, candidate)
