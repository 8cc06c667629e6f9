"""Speed over a moving window, and the ETA that follows from it."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SpeedMeter:
    """Bytes per second over the last `window` seconds. Thread-safe; cheap to feed often."""

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, int]] = deque()  # (time, bytes) per bucket of 0.1 s
        self._started: float | None = None

    def add(self, amount: int) -> None:
        now = self._clock()
        bucket = round(now, 1)
        with self._lock:
            if self._started is None:
                self._started = now
            if self._samples and self._samples[-1][0] == bucket:
                self._samples[-1] = (bucket, self._samples[-1][1] + amount)
            else:
                self._samples.append((bucket, amount))
            self._trim(now)

    def speed(self) -> float:
        """Bytes per second; 0.0 until something was sent, and decaying to 0 when sending stops."""
        now = self._clock()
        with self._lock:
            self._trim(now)
            if not self._samples or self._started is None:
                return 0.0
            span = min(self._window, max(now - self._started, 0.5))
            return sum(amount for _, amount in self._samples) / span

    def reset(self) -> None:
        with self._lock:
            self._samples.clear()
            self._started = None

    def _trim(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self._window:
            self._samples.popleft()


def eta_seconds(remaining: int, speed: float) -> float | None:
    """Seconds left at `speed`, or None when it cannot be told."""
    if remaining <= 0:
        return 0.0
    if speed <= 1.0:
        return None
    return remaining / speed
