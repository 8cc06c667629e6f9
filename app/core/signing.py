"""The presigned part URLs of one multipart upload, asked for just before the parts need them.

On this project's API a few parts are signed per call (`partNumbers`), the one a worker needs plus the
next ones; the existing deployment signs every part in one call, so its list is asked for again only
when the URLs are about to expire.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

from app.core.api import ApiClient, PresignedUrl
from app.core.errors import NotThisApiError, UploadError
from app.core.transfer import PartStopped, UrlExpiredError

PRESIGN_BATCH = 16  # URLs asked for at once on this project's API


class UrlSigner:
    """URLs of one plan of one upload. Thread-safe: one signing call at a time, shared by the workers.

    `upcoming()` names the parts that will need a URL soon (in flight first, then waiting), so that one
    call signs them together.
    """

    def __init__(
        self,
        api: ApiClient,
        upload_id: str,
        key: str,
        *,
        part_count: int,
        extended: bool,
        accelerate: bool,
        upcoming: Callable[[], Iterable[int]],
        single: bool = False,
    ) -> None:
        self.upload_id = upload_id
        self._api = api
        self._key = key
        self._part_count = part_count
        self._extended = extended
        self._accelerate = accelerate
        self._upcoming = upcoming
        self._single = single  # one PUT URL, from the start of the upload; it cannot be signed again here
        self._lock = threading.Lock()
        self._urls: dict[int, PresignedUrl] = {}
        self._retired = threading.Event()
        self._calls = 0  # signing calls made, so that waiters learn whether one failed meanwhile
        self._failure: UploadError | None = None  # how the last call failed

    def url_for(self, number: int, send_seconds: float = 0.0) -> PresignedUrl:
        """A URL for the part that stays valid for `send_seconds` more, signing it when there is none.

        Raises the API client's `UploadError`s, or PartStopped once the signer is retired.
        """
        calls_seen = self._calls
        with self._lock:
            if self._retired.is_set():
                raise PartStopped()
            cached = self._urls.get(number)
            if cached is not None and cached.usable(time.time(), send_seconds):
                return cached
            if self._calls != calls_seen and self._failure is not None:
                raise self._failure  # it failed while this worker waited: one failure, not one per worker
            self._calls += 1
            try:
                fresh = self._sign(number)
            except UrlExpiredError:
                raise
            except UploadError as error:
                self._failure = error
                raise
            self._failure = None
            self._urls.update(fresh)
        if number not in fresh:
            raise NotThisApiError(f"The API returned no URL for part {number}.")
        return fresh[number]

    def _sign(self, number: int) -> dict[int, PresignedUrl]:
        if self._single:
            raise UrlExpiredError("The upload URL of this file expired before it was used.")
        if self._extended:
            return self._api.presign(
                self.upload_id, self._key, part_numbers=self._batch(number), accelerate=self._accelerate
            )
        return self._api.presign(
            self.upload_id, self._key, count=self._part_count, accelerate=self._accelerate
        )

    def add(self, urls: Mapping[int, PresignedUrl]) -> None:
        """Keep URLs signed elsewhere (e.g. while the upload was prepared)."""
        with self._lock:
            self._urls.update(urls)

    def forget(self, number: int) -> None:
        """The part's URL was refused as expired: sign it again next time."""
        with self._lock:
            self._urls.pop(number, None)

    def retire(self) -> None:
        """The plan changed: the parts this signer knows mean nothing now, so sign none of them.
        Takes no lock, so that it may be called with the engine core's lock held."""
        self._retired.set()

    def _batch(self, number: int) -> list[int]:
        now = time.time()
        wanted = [number]
        for other in self._upcoming():
            if len(wanted) >= PRESIGN_BATCH:
                break
            cached = self._urls.get(other)
            if other not in wanted and not (cached and cached.usable(now)):
                wanted.append(other)
        return sorted(wanted)
