"""The engine's worker threads: each takes a job from its host, does its I/O and reports the outcome.

A worker holds one keep-alive connection per S3 endpoint, so the number of workers bounds the number of
connections. It reads nothing of the engine's shared state and decides nothing: every outcome (a part's
ETag, a stop, an expired URL, an error) goes back to the host, which owns the uploads.
"""

from __future__ import annotations

import logging
import threading

from app.core.errors import UploadError
from app.core.jobs import (
    BatchDone,
    Failed,
    Job,
    JobKind,
    Outcome,
    PartSent,
    Stopped,
    UrlExpired,
    WorkerHost,
)
from app.core.steps import file_error, finalize, finish_batch, prepare, start_batch, verify_part
from app.core.transfer import ConnectionCache, PartStopped, UrlExpiredError, send_part

log = logging.getLogger(__name__)

SOCKET_TIMEOUT = 60.0


class Worker(threading.Thread):
    """Takes jobs from `host` until it is told to stop."""

    def __init__(self, host: WorkerHost, index: int) -> None:
        super().__init__(name=f"s3up-worker-{index}", daemon=True)
        self.host = host
        self.index = index
        self.connections = ConnectionCache(timeout=SOCKET_TIMEOUT)

    def run(self) -> None:
        try:
            while (job := self.host.next_job(self.index)) is not None:
                try:
                    outcome = self._run_job(job)
                except Exception as error:  # a bug must fail one upload, not kill the worker
                    log.exception("Unexpected error in %s job of upload %s", job.kind.value, job.upload_ref)
                    outcome = Failed(UploadError(f"An unexpected error stopped this upload ({error})."))
                self.host.complete(job, outcome)
        finally:
            self.connections.close()

    def _run_job(self, job: Job) -> Outcome:
        host = self.host
        try:
            if job.kind is JobKind.PART:
                return self._send(job)
            if job.kind is JobKind.VERIFY:
                try:
                    return verify_part(job)
                except PartStopped:
                    return Stopped()
            api = host.api(job.record.api_url)
            info = host.api_info(job.record.api_url)
            if job.kind is JobKind.PREPARE:
                return prepare(api, info, job)
            if job.kind is JobKind.START_BATCH:
                return start_batch(api, info, job.batch)
            if job.kind is JobKind.FINISH_BATCH:
                return finish_batch(api, job.batch, host.closing)
            return finalize(api, info, job, host.closing)
        except UploadError as error:
            if job.batch:  # the call failed as a whole: so did each of its files
                return BatchDone({member.upload_ref: Failed(error) for member in job.batch})
            return Failed(error)

    def _send(self, job: Job) -> Outcome:
        assert job.signer is not None
        part = job.plan.part(job.part_number)
        try:
            url = job.signer.url_for(part.number, job.send_seconds)
        except PartStopped:
            return Stopped()
        except UrlExpiredError as error:
            return UrlExpired(error)
        except UploadError as error:
            return Failed(error)
        try:
            with job.record.path.open("rb") as file:
                sent = send_part(
                    url.url,
                    url.expires_at,
                    file,
                    part.offset,
                    part.length,
                    connections=self.connections,
                    stopper=job.stopper,
                    on_progress=lambda amount: self.host.progress(job, amount),
                    limiter=self.host.limiter,
                    headers=job.put_headers,
                )
        except PartStopped:
            return Stopped()
        except UrlExpiredError as error:
            return UrlExpired(error)
        except UploadError as error:
            return Failed(error)
        except OSError as error:
            return Failed(file_error(job.record, error))
        return PartSent(sent.etag, part.length)
