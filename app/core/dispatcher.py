"""Feeds the workers: the engine's side of `jobs.WorkerHost`.

`next_job` picks work with `scheduler.pick_job` under the core's lock (within the connection limit,
fixed or adaptive: `concurrency.ConcurrencyLimit`) and hands the worker a snapshot; `complete` gives
the outcome to `outcomes.Outcomes`, which decides what it means for the upload.
"""

from __future__ import annotations

import threading
import time

from app.core.api import ApiClient, ApiInfo
from app.core.bandwidth import BandwidthLimiter
from app.core.concurrency import MAXIMUM, ConcurrencyLimit
from app.core.core import EngineCore
from app.core.errors import UploadError
from app.core.jobs import Job, JobKind, Outcome
from app.core.outcomes import Outcomes
from app.core.scheduler import Pick, Slots, pick_job
from app.core.states import ACTIVE_STATES, Event, UploadState
from app.core.upload import ActiveUpload
from app.core.worker import Worker

VERIFY_SLOTS = 2  # parts checked at once, engine-wide (disk and CPU, beside the network jobs)
BATCH_FILES = 50  # files per batch call (the API allows up to 100: half keeps each call short)
BATCH_KINDS = frozenset({JobKind.START_BATCH, JobKind.FINISH_BATCH})


class Dispatcher:
    """Hands jobs to a pool of workers and applies what they report. Thread-safe."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core
        self.limit = ConcurrencyLimit(core.settings.max_connections)
        self.outcomes = Outcomes(core, self.limit, self._started_one)
        self._workers: list[Worker] = []
        self._started: dict[int, ActiveUpload] = {}  # uploads that can take parts, in the order added
        # Guarded by the core's lock:
        self._network_jobs = 0
        self._verify_jobs = 0
        self._starting = 0  # uploads in a start (or reconcile) step

    # --- WorkerHost -------------------------------------------------------------------------------

    @property
    def closing(self) -> threading.Event:
        return self.core.closing

    @property
    def limiter(self) -> BandwidthLimiter:
        return self.core.limiter

    def api(self, api_url: str) -> ApiClient:
        return self.core.api(api_url)

    def api_info(self, api_url: str) -> ApiInfo:
        return self.core.api_info(api_url)

    def next_job(self, worker_index: int) -> Job | None:
        core = self.core
        while True:
            with core.lock:
                pick = None
                while not core.closing.is_set():
                    if worker_index >= self.pool_size():
                        return None
                    if self.limit.update():
                        core.work.notify_all()
                    started = self._started_uploads()
                    slots = self._slots(len(started))
                    pick, wake_at = pick_job(started, core.active.values(), slots, time.monotonic())
                    if pick is not None:
                        break
                    timeout = 0.5 if wake_at is None else min(0.5, max(0.01, wake_at - time.monotonic()))
                    core.work.wait(timeout)
                if pick is None:
                    return None
                job = self._job_for(pick)
                self._count(job, +1)
                core.work.notify()  # there may be more: the next idle worker looks
            if self._begin(pick):
                return job
            with core.lock:
                self._count(job, -1)

    def progress(self, job: Job, amount: int) -> None:
        upload = self.core.find(job.upload_ref)
        if upload is None:
            return
        self.limit.sent(amount)
        with self.core.lock:
            if job.generation == upload.plan_generation and job.part_number in upload.in_flight:
                upload.in_flight[job.part_number] += amount
                upload.progress_dirty = True
        upload.meter.add(amount)

    def complete(self, job: Job, outcome: Outcome) -> None:
        core = self.core
        members = job.batch or (job,)
        uploads = [u for u in (core.find(member.upload_ref) for member in members) if u is not None]
        try:
            if job.batch:
                self.outcomes.batch(job, outcome)
            elif uploads:
                self.outcomes.apply(uploads[0], job, outcome)
        except UploadError as error:  # e.g. the journal failed: these uploads cannot go on
            for upload in uploads:
                with core.lock:
                    upload.busy = False
                core.apply(upload, Event.FAIL, error.message)
        finally:
            with core.lock:
                self._count(job, -1)
                for upload in uploads:
                    core.release_if_idle(upload)
                core.changed()

    # --- picking ----------------------------------------------------------------------------------

    def pool_size(self) -> int:
        return (self.core.settings.max_connections or MAXIMUM) + VERIFY_SLOTS

    def _slots(self, prepared: int) -> Slots:
        """What may start now, with `prepared` uploads started and active (the core's lock is held)."""
        limit = self.limit.value
        network = self._network_jobs < limit
        if not network:
            self.limit.saturated()
        started = prepared + self._starting
        return Slots(
            network=network,
            verify=self._verify_jobs < VERIFY_SLOTS,
            per_file_connections=self.core.settings.per_file_connections,
            start_window=limit + 2 * BATCH_FILES - started,
            batch_size=self._batch_size,
            prefetch_below=limit if self._starting < 2 * BATCH_FILES else 0,
            unstarted=len(self.core.active) - prepared,
        )

    def _batch_size(self, api_url: str) -> int | None:
        info = self.core.known_api_info(api_url)
        if info is None:
            return None
        if not (info.has("batch") and info.has("clientToken")):
            return 1
        return max(1, min(BATCH_FILES, info.limit("batchFiles", BATCH_FILES)))

    def _started_uploads(self) -> list[ActiveUpload]:
        """The started uploads still being worked on, in order (the others are dropped from the list)."""
        gone = [ref for ref, u in self._started.items() if not (u.prepared and u.state in ACTIVE_STATES)]
        for ref in gone:
            del self._started[ref]
        return list(self._started.values())

    def _started_one(self, upload: ActiveUpload) -> None:
        with self.core.lock:
            self._started[upload.id] = upload
            self.core.changed()

    def _count(self, job: Job, change: int) -> None:
        if job.kind is JobKind.VERIFY:
            self._verify_jobs += change
            return
        self._network_jobs += change
        if job.kind in (JobKind.PREPARE, JobKind.START_BATCH):
            self._starting += change * max(1, len(job.batch))

    def _job_for(self, pick: Pick) -> Job:
        """The worker's snapshot of what it needs (the core's lock is held)."""
        if pick.kind in BATCH_KINDS:
            members = tuple(self._snapshot(upload, pick.kind, 0) for upload in pick.uploads)
            return Job(
                kind=pick.kind,
                record=members[0].record,
                plan=members[0].plan,
                generation=members[0].generation,
                stopper=members[0].stopper,
                batch=members,
            )
        return self._snapshot(pick.upload, pick.kind, pick.part_number)

    def _snapshot(self, upload: ActiveUpload, kind: JobKind, part_number: int) -> Job:
        send_seconds = 0.0
        if kind is JobKind.PART:
            per_connection = upload.meter.speed() / max(1, len(upload.in_flight))
            send_seconds = upload.plan.part_size / per_connection if per_connection > 0 else 0.0
        return Job(
            kind=kind,
            record=upload.record,
            plan=upload.plan,
            generation=upload.plan_generation,
            stopper=upload.stopper,
            upload_id=upload.upload_id,
            signer=upload.signer,
            part_number=part_number,
            known_parts=dict(upload.done) if kind is not JobKind.PART else {},
            part_size_fixed=upload.part_size_fixed,
            check_remote_first=upload.check_remote_first,
            single=upload.single,
            put_headers=upload.put_headers,
            send_seconds=send_seconds,
        )

    def _begin(self, pick: Pick) -> bool:
        """Apply the state change that taking the job means; False when the job is void (the user
        paused the upload between the pick and now)."""
        if pick.kind is JobKind.PART:
            self.core.apply(pick.upload, Event.SEND)
            return True
        if pick.kind not in (JobKind.FINALIZE, JobKind.FINISH_BATCH):
            return True
        for upload in pick.uploads:
            self.core.apply(upload, Event.FINALIZE)
        with self.core.lock:
            if all(u.state is UploadState.FINALIZING for u in pick.uploads):
                return True
            for upload in pick.uploads:  # paused meanwhile: nothing is finished now
                upload.busy = False
                self.core.release_if_idle(upload)
            return False

    # --- the pool ---------------------------------------------------------------------------------

    def resize_pool(self) -> None:
        """One worker per allowed connection, and some for checks (extra ones exit when they next
        look for work)."""
        core = self.core
        with core.lock:
            self.limit.fix(core.settings.max_connections)
            self._workers = [w for w in self._workers if w.is_alive()]
            wanted = 0 if core.closing.is_set() else self.pool_size()
            used = {w.index for w in self._workers}
            for index in range(wanted):
                if index not in used:
                    worker = Worker(self, index)
                    self._workers.append(worker)
                    worker.start()
            core.work.notify_all()  # those beyond the new size exit

    def join(self, deadline: float) -> None:
        with self.core.lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
