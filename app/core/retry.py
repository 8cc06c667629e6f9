"""When to try again: exponential backoff with jitter, bounded in attempts and in delay."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from app.core.errors import UploadError


@dataclass
class RetryPolicy:
    """Delays grow as base × 2^(attempt-1), capped, with "equal jitter": half fixed, half random.

    The fixed half keeps a burst of failing clients from hammering a server that asked them to slow
    down; the random half spreads them out.
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """True when `error` is worth another try and attempts remain."""
        return attempt < self.max_attempts and is_transient(error)


def is_transient(error: BaseException) -> bool:
    """Connection trouble, time-outs, 5xx, 429, SlowDown and corrupted parts may pass; the rest will not."""
    return isinstance(error, UploadError) and error.transient
