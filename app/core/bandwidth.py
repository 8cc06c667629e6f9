"""A token bucket shared by every transfer, so a bandwidth limit holds for the whole app."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class BandwidthLimiter:
    """Lets through at most `rate` bytes per second on average, with bursts of `burst` seconds.

    `rate` None means unlimited. The rate can change while transfers run.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._burst = burst
        self._rate: float | None = None
        self._tokens = 0.0
        self._stamp = clock()
        self.set_rate(rate)

    @property
    def rate(self) -> float | None:
        return self._rate

    def set_rate(self, rate: float | None) -> None:
        with self._lock:
            self._rate = rate if rate and rate > 0 else None
            self._tokens = 0.0
            self._stamp = self._clock()

    def acquire(self, amount: int, stop: threading.Event) -> None:
        """Wait until `amount` bytes may be sent, or until `stop` is set (then return at once)."""
        while not stop.is_set():
            wait = self._take(amount)
            if wait <= 0:
                return
            stop.wait(min(wait, 0.25))

    def _take(self, amount: int) -> float:
        """Take the tokens and return 0, or return how long to wait before trying again."""
        with self._lock:
            if self._rate is None:
                return 0.0
            now = self._clock()
            capacity = max(self._rate * self._burst, float(amount))
            self._tokens = min(capacity, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens >= amount:
                self._tokens -= amount
                return 0.0
            return (amount - self._tokens) / self._rate
