"""API Gateway's authorizer cache: one authorizer answer per token, reused for every route for a TTL.

As on AWS, the cache key is the identity source (the `Authorization` header's value) and only a
policy the authorizer returned is cached (Allow or Deny); a raised error (401, 500) is not. The
cached policy is evaluated again for each route, so a policy that names one method only would
refuse the others. A revoked token therefore keeps working until its entry expires, unless the
stage's cache is flushed (`aws apigateway flush-stage-authorizers-cache`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Clock = Callable[[], float]
MAX_ENTRIES = 10_000  # bounded: a client cycling through junk tokens cannot grow it without limit


class AuthorizerCache:
    """Thread-safe token → authorizer answer, each entry alive for `ttl` seconds of `clock`."""

    def __init__(self, ttl: float, clock: Clock) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Any | None:
        """The cached answer for this token, or None when there is none or it expired."""
        if self.ttl <= 0:
            return None
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            if self._clock() >= entry[0]:
                del self._entries[token]
                return None
            return entry[1]

    def put(self, token: str, answer: Any) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            now = self._clock()
            if len(self._entries) >= MAX_ENTRIES:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.pop(next(iter(self._entries)))  # the oldest
            self._entries[token] = (now + self.ttl, answer)

    def flush(self, token: str | None = None) -> None:
        """Forget one token's answer, or every answer."""
        with self._lock:
            if token is None:
                self._entries.clear()
            else:
                self._entries.pop(token, None)
