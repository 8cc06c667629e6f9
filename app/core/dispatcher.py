"""Feeds the workers: the engine's side of `jobs.WorkerHost`.

`next_job` picks work with `scheduler.pick_job` under the core's lock (within the connection limit,
fixed or adaptive: `concurrency.ConcurrencyLimit`) and hands the worker a snapshot; `complete` gives
the outcome to `outcomes.Outcomes`, which decides what it means for the upload.

Uploads are started ahead of need by as many parts as the connections take in about two start calls
(measured: parts taken per second, and how long a start call takes), so that the next files are ready
when the connections free up, and no further (a started file's URLs expire). Idle workers sleep until
something changes; only one of them keeps the time (a backoff that ends, the next decision of the
adaptive limit), so that 66 idle threads cost nothing.
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
from app.core.progress import SpeedMeter
from app.core.scheduler import Pick, Slots, pick_job
from app.core.states import ACTIVE_STATES, Event, UploadState
from app.core.upload import ActiveUpload
from app.core.worker import Worker

VERIFY_SLOTS = 2  # parts checked at once, engine-wide (disk and CPU, beside the network jobs)
BATCH_FILES = 50  # files per batch call (the API allows up to 100: half keeps each call short)
START_BATCH_SLOTS = 3  # /initializeBatch calls at once (beside the connections to S3)
FINISH_BATCH_SLOTS = 2  # /finalizeBatch calls at once
START_AHEAD = 4 * BATCH_FILES  # at most this many more files started than there are connections
# Files whose bytes are all sent may wait this many for their finish calls before no more are started:
# otherwise, when finishing falls behind (many tiny files), the started files pile up by thousands and
# every pick walks them all.
FINISH_AHEAD = 2 * FINISH_BATCH_SLOTS * BATCH_FILES
FIRST_START_SECONDS = 0.5  # how long a start call is assumed to take until one is measured
IDLE_WAIT = 5.0  # an idle worker's wait when nothing is due (a safety net: changes wake it)
BATCH_KINDS = frozenset({JobKind.START_BATCH, JobKind.FINISH_BATCH})
START_KINDS = frozenset({JobKind.PREPARE, JobKind.START_BATCH})


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
        self._start_batches = 0
        self._finish_batches = 0
        self._starting = 0  # uploads in a start (or reconcile) step
        self._start_seconds = FIRST_START_SECONDS  # how long a start step takes (moving average)
        self._start_times: dict[int, float] = {}  # id(job) -> when it was taken, for start steps
        self._parts_taken = SpeedMeter(window=2.0)  # parts handed to workers per second
        self._timer_at = float("inf")  # when the worker that keeps the time wakes up

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
                        core.work.notify()  # the wake-up was meant for a worker that stays
                        return None
                    self.limit.update()
                    started, sending = self._started_uploads()
                    slots = self._slots(sending, len(started))
                    now = time.monotonic()
                    pick, wake_at = pick_job(started, core.active.values(), slots, now)
                    if pick is not None:
                        break
                    self._idle_wait(now, wake_at)
                if pick is None:
                    return None
                job = self._job_for(pick)
                self._count(job, +1)
                full = pick.kind is JobKind.PART and self._network_jobs >= self.limit.value
                if full and (pick.parts_behind or slots.unstarted):
                    # This took the last free connection and more work waits. (A worker back from its
                    # part always finds its own connection free, so with long parts no other moment
                    # shows that more connections could be used.)
                    self.limit.saturated()
                if pick.kind is not JobKind.PART or self._network_jobs < self.limit.value:
                    core.work.notify()  # there may be more: the next idle worker looks
            if self._begin(pick):
                return job
            with core.lock:
                self._count(job, -1)

    def _idle_wait(self, now: float, wake_at: float | None) -> None:
        """Sleep until something changes (the core's lock is held). One idle worker keeps the time:
        it wakes when a backoff ends or the adaptive limit decides again; the others wait to be woken."""
        if self.limit.adaptive:
            decision = self.limit.next_decision()
            wake_at = decision if wake_at is None else min(wake_at, decision)
        if wake_at is None or wake_at >= self._timer_at:
            self.core.work.wait(IDLE_WAIT)
            return
        self._timer_at = wake_at
        self.core.work.wait(max(0.005, wake_at - now))
        if self._timer_at == wake_at:
            self._timer_at = float("inf")

    def progress(self, job: Job, amount: int) -> None:
        upload = self.core.find(job.upload_ref)
        if upload is None:
            return
        self.limit.sent(amount)
        with self.core.lock:
            current = job.generation == upload.plan_generation and job.part_number in upload.in_flight
            if current:
                upload.in_flight[job.part_number] += amount
                upload.progress_dirty = True
        if current:  # a send of an older plan makes no meter (the upload may have finished since)
            upload.meter.add(amount)

    def complete(self, job: Job, outcome: Outcome) -> None:
        core = self.core
        members = job.batch or (job,)
        uploads = [u for u in (core.find(member.upload_ref) for member in members) if u is not None]
        try:
            if job.kind in START_KINDS:
                self._start_ended(job)
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
                core.changed(wake_worker=False)  # this worker looks for the next job itself

    # --- picking ----------------------------------------------------------------------------------

    def pool_size(self) -> int:
        connections = self.core.settings.max_connections or MAXIMUM
        return connections + VERIFY_SLOTS + START_BATCH_SLOTS + FINISH_BATCH_SLOTS

    def _slots(self, sending: int, prepared: int) -> Slots:
        """What may start now, with `prepared` uploads started and active, `sending` of them with parts
        still to send (the core's lock is held). Those count against the window of started uploads; the
        others only wait for their finish calls, and count once more than FINISH_AHEAD of them wait."""
        limit = self.limit.value
        network = self._network_jobs < limit
        if not network:
            self.limit.saturated()
        # Parts the connections will take while about two start calls run: started ahead of need.
        need = limit + self._parts_taken.speed() * 2 * self._start_seconds
        finishing_behind = max(0, prepared - sending - FINISH_AHEAD)
        return Slots(
            network=network,
            verify=self._verify_jobs < VERIFY_SLOTS,
            per_file_connections=self.core.settings.per_file_connections,
            start_window=limit + START_AHEAD - sending - self._starting - finishing_behind,
            batch_size=self._batch_size,
            prefetch_below=max(0, int(need) - self._starting),
            unstarted=len(self.core.active) - prepared,
            starting=self._starting,
            start_batch=self._start_batches < START_BATCH_SLOTS,
            finish_batch=self._finish_batches < FINISH_BATCH_SLOTS,
        )

    def _batch_size(self, api_url: str) -> int | None:
        info = self.core.known_api_info(api_url)
        if info is None:
            return None
        if not (info.has("batch") and info.has("clientToken")):
            return 1
        return max(1, min(BATCH_FILES, info.limit("batchFiles", BATCH_FILES)))

    def _started_uploads(self) -> tuple[list[ActiveUpload], int]:
        """The started uploads still being worked on, in order (the others are dropped from the list),
        and how many of them have bytes left to send."""
        started: list[ActiveUpload] = []
        sending = 0
        gone = []
        for ref, upload in self._started.items():
            if upload.prepared and upload.state in ACTIVE_STATES:
                started.append(upload)
                sending += len(upload.done) < upload.plan.count
            else:
                gone.append(ref)
        for ref in gone:
            del self._started[ref]
        return started, sending

    def _started_one(self, upload: ActiveUpload) -> None:
        with self.core.lock:
            self._started[upload.id] = upload
            self.core.changed(wake_worker=False)  # told while a worker reports: it looks next

    def _count(self, job: Job, change: int) -> None:
        if job.kind is JobKind.VERIFY:
            self._verify_jobs += change
        elif job.kind is JobKind.START_BATCH:
            self._start_batches += change
        elif job.kind is JobKind.FINISH_BATCH:
            self._finish_batches += change
        else:
            self._network_jobs += change
        if job.kind in START_KINDS:
            self._starting += change * max(1, len(job.batch))
            if change > 0:
                self._start_times[id(job)] = time.monotonic()
            else:
                self._start_times.pop(id(job), None)
        elif job.kind is JobKind.PART and change > 0:
            self._parts_taken.add(1)

    def _start_ended(self, job: Job) -> None:
        """A start step ended: its duration goes into the moving average."""
        with self.core.lock:
            taken = self._start_times.pop(id(job), None)
            if taken is not None:
                self._start_seconds = 0.7 * self._start_seconds + 0.3 * (time.monotonic() - taken)

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
