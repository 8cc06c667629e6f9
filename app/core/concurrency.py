"""How many requests the engine keeps in flight: fixed by the user, or adapted to what the network gives.

Adaptive mode starts at `START` and looks at the goodput (bytes that went out) every `INTERVAL`:
- while every slot is in use and each step makes the goodput grow by at least 10 %, it doubles the
  connections (slow start); a doubling that keeps the goodput (within 3 %) is kept, one that lowers it
  is taken back, and either ends the doubling;
- a steady limit probes an eighth more every 2 s, kept only when it pays 10 % (where the server is the
  ceiling, more connections only cost CPU);
- throttling (429, 503 SlowDown) and broken connections cut it to 70 %, and it then waits two
  intervals before it grows again.
Goodput is counted as bytes are handed to the sockets, so connections that have just opened look faster
than they are while they fill their socket buffers (on loopback, 8 more connections read as +50 %). The
bytes of the first `SETTLE` seconds after traffic starts and after each step up are therefore left out.
It stays between `MINIMUM` and `MAXIMUM`, and grows only while there is more work than connections
(a single small file never needs 64).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MINIMUM = 2
MAXIMUM = 64
START = 8
INTERVAL = 0.5  # seconds between decisions
GROWTH = 1.10  # a step pays when the goodput grows by this factor
HOLD = 0.97  # a doubling that kept the goodput at least this is kept (noise is not a loss)
CUT = 0.7  # on throttling or broken connections
PROBE_EVERY = 4  # flat intervals before trying one step up again
SETTLE = 0.2  # seconds not counted after traffic starts and after each step up


class ConcurrencyLimit:
    """The number of network jobs allowed at once. Thread-safe; `update()` is cheap to call often."""

    def __init__(self, fixed: int | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._fixed = fixed
        self._limit = fixed or START
        self._slow_start = True
        self._bytes = 0
        self._congested = False
        self._saturated = False
        self._window_start = clock()
        self._previous: tuple[int, float] | None = None  # (limit, goodput) of the last interval
        self._hold_until = 0.0
        self._flat = 0
        self._probing = False  # the last step up was a probe: it stays only if it pays
        self._idle = True  # nothing was sent in the last interval: the next bytes open connections
        self._settle_until = 0.0  # bytes handed over before then are not counted

    @property
    def adaptive(self) -> bool:
        return self._fixed is None

    @property
    def value(self) -> int:
        return self._limit

    def next_decision(self) -> float:
        """When (the clock's time) `update()` decides next."""
        return max(self._window_start, self._settle_until) + INTERVAL

    def fix(self, fixed: int | None) -> None:
        """A new setting: a number fixes the limit, None adapts it (from where it is)."""
        with self._lock:
            self._fixed = fixed
            if fixed is not None:
                self._limit = fixed

    def sent(self, amount: int) -> None:
        """`amount` bytes went out."""
        with self._lock:
            if self._fixed is not None:
                return
            if self._idle or self._settle_until:
                now = self._clock()
                if self._idle:
                    self._idle = False
                    self._settle(now)
                if now < self._settle_until:
                    return  # socket buffers filling: not goodput
            self._bytes += amount

    def _settle(self, now: float) -> None:
        self._settle_until, self._bytes = now + SETTLE, 0

    def congested(self) -> None:
        """The server throttled a request, or a connection broke."""
        with self._lock:
            self._congested = True

    def saturated(self) -> None:
        """Every slot is taken and more work waits: more connections could have been used."""
        with self._lock:
            self._saturated = True

    def update(self) -> bool:
        """Decide once per interval; True when the limit changed."""
        with self._lock:
            if self._fixed is not None:
                return False
            now = self._clock()
            if self._settle_until:
                if now < self._settle_until:
                    return False
                self._window_start, self._settle_until = self._settle_until, 0.0  # measured from then
            elapsed = now - self._window_start
            if elapsed < INTERVAL:
                return False
            goodput = self._bytes / elapsed
            before = self._limit
            idle = goodput <= 0 and not self._saturated  # nothing to send, rather than sends stalled
            self._decide(now, goodput)
            self._bytes, self._congested, self._saturated = 0, False, False
            self._window_start = now
            self._idle = idle
            if self._limit > before:
                self._settle(now)
            return self._limit != before

    def _decide(self, now: float, goodput: float) -> None:
        limit = self._limit
        if self._congested:
            self._limit = max(MINIMUM, int(limit * CUT))
            self._slow_start, self._previous, self._probing = False, None, False
            self._hold_until = now + 2 * INTERVAL
            return
        if now < self._hold_until or not self._saturated or goodput <= 0:
            return  # too soon after a cut, or the work does not fill the connections
        previous, self._previous = self._previous, (limit, goodput)
        if previous is not None and previous[0] < limit:  # the last interval ran a step higher
            grew = goodput >= previous[1] * GROWTH
            if not grew and (self._probing or goodput < previous[1] * HOLD):
                self._limit, self._previous = previous[0], previous  # it did not pay: take it back
                self._slow_start = self._probing = False
                self._flat = 0
                return
            if not grew:  # it paid a little: keep it, and grow slowly from here
                self._slow_start = self._probing = False
                return
        if previous is None or previous[0] < limit:  # a first measure, or a step that paid
            self._grow(probe=False)
            return
        self._flat += 1
        if self._flat >= PROBE_EVERY:  # steady for a while: see whether one more step pays now
            self._grow(probe=True)

    def _grow(self, *, probe: bool) -> None:
        self._flat = 0
        self._probing = probe
        step = self._limit if self._slow_start else max(1, self._limit // 8)
        self._limit = min(MAXIMUM, self._limit + step)
