from __future__ import annotations

import random
import threading

import pytest

from app.core.bandwidth import BandwidthLimiter
from app.core.errors import AuthError, IntegrityError, InvalidRequestError, ServerError
from app.core.progress import SpeedMeter, eta_seconds
from app.core.retry import RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, rng=random.Random(7))
    for attempt in range(1, 12):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # really jittered


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (ServerError("503"), True),
        (IntegrityError("md5"), True),
        (AuthError("401"), False),
        (InvalidRequestError("400"), False),
        (ValueError("bug"), False),
    ],
)
def test_only_transient_errors_are_retried(error: Exception, retried: bool) -> None:
    assert RetryPolicy(max_attempts=3).should_retry(error, 1) is retried


def test_retries_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(ServerError("x"), 2)
    assert not policy.should_retry(ServerError("x"), 3)


def test_speed_is_measured_over_a_moving_window_and_decays() -> None:
    clock = FakeClock()
    meter = SpeedMeter(window=5.0, clock=clock)
    for _ in range(50):  # 10 MiB/s for 5 s
        meter.add(1024 * 1024)
        clock.now += 0.1
    assert meter.speed() == pytest.approx(10 * 1024 * 1024, rel=0.05)
    clock.now += 10  # nothing sent for a while
    assert meter.speed() == 0.0


def test_eta() -> None:
    assert eta_seconds(100, 10.0) == pytest.approx(10.0)
    assert eta_seconds(0, 0.0) == 0.0
    assert eta_seconds(100, 0.0) is None


def test_bandwidth_limiter_paces_to_the_rate() -> None:
    clock = FakeClock()
    limiter = BandwidthLimiter(1000.0, burst=0.25, clock=clock)
    stop = threading.Event()
    assert limiter._take(250) > 0  # the bucket starts empty
    clock.now += 0.25
    assert limiter._take(250) == 0
    assert limiter._take(500) == pytest.approx(0.5)
    limiter.set_rate(None)
    limiter.acquire(10**9, stop)  # unlimited: returns at once


def test_bandwidth_limiter_really_limits_threads() -> None:
    import time

    limiter = BandwidthLimiter(4 * 1024 * 1024)  # 4 MiB/s shared by two threads
    stop = threading.Event()
    sent = [0, 0]

    def send(index: int) -> None:
        for _ in range(16):
            limiter.acquire(128 * 1024, stop)
            sent[index] += 128 * 1024

    started = time.monotonic()
    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    elapsed = time.monotonic() - started
    assert sum(sent) == 4 * 1024 * 1024
    assert 0.7 <= elapsed <= 2.0  # ~1 s for 4 MiB at 4 MiB/s (minus the initial burst)


def test_stop_interrupts_a_limited_wait() -> None:
    limiter = BandwidthLimiter(1.0)
    stop = threading.Event()
    stop.set()
    limiter.acquire(10**6, stop)  # returns at once instead of waiting 11 days
