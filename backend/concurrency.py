"""Run independent network calls side by side (boto3 clients are thread-safe; their calls wait on I/O)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
MAX_WORKERS = 16


def parallel_map(function: Callable[[T], R], items: Sequence[T], *, workers: int = MAX_WORKERS) -> list[R]:
    """`[function(item) for item in items]`, up to `workers` at a time; the first exception propagates.

    One item (the common per-file case) runs on the calling thread, without a pool.
    """
    if len(items) <= 1 or workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="backend") as pool:
        return list(pool.map(function, items))
