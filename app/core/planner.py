"""Splits a file into multipart-upload parts within S3's limits.

S3 allows parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000 parts, so an object of at
most 10,000 × 5 GiB (48.8 TiB). Every limit is checked here, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from app.core.errors import InvalidRequestError
from app.core.models import GIB, MIB

MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * GIB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE
# Chosen with benchmarks/bench_upload.py (1 GiB, 8 connections, 3 rounds): parts of 8/16/32/64 MiB sent
# at 169/187/179/176 MiB/s. Larger parts also cost more on a retry and make progress coarser.
DEFAULT_PART_SIZE = 16 * MIB
# A file larger than one default part is cut into at least this many parts (of 5 MiB or more), so that
# as many connections can send it at once: far from the region each connection is slow on its own.
PARALLEL_PARTS = 64


@dataclass(frozen=True, slots=True)
class Part:
    """One part: S3 numbers parts from 1."""

    number: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class PartPlan:
    """How a file of `size` bytes is cut: every part is `part_size` long except maybe the last."""

    size: int
    part_size: int
    count: int

    def part(self, number: int) -> Part:
        """The part with this number (1-based)."""
        if not 1 <= number <= self.count:
            raise IndexError(f"part {number} is outside 1..{self.count}")
        offset = (number - 1) * self.part_size
        return Part(number, offset, min(self.part_size, self.size - offset))

    def parts(self) -> Iterator[Part]:
        """Every part, in order."""
        for number in range(1, self.count + 1):
            yield self.part(number)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def plan_parts(
    size: int,
    part_size: int | None = None,
    *,
    max_parts: int = MAX_PARTS,
    min_part_size: int = MIN_PART_SIZE,
) -> PartPlan:
    """Plan the parts of a `size`-byte file.

    `part_size` None picks DEFAULT_PART_SIZE, grown (in whole MiB) until the file fits in `max_parts`.
    An explicit `part_size` is honoured exactly or refused. An empty file is one empty part.
    Raises InvalidRequestError, with a sentence for the user, for anything S3 would refuse.
    """
    if size < 0:
        raise InvalidRequestError("The file size is negative; the file cannot be read correctly.")
    if size > MAX_OBJECT_SIZE:
        raise InvalidRequestError(
            f"The file is {format_size(size)}, larger than the {format_size(MAX_OBJECT_SIZE)} "
            "that S3 can store as one object. Split it before uploading."
        )
    max_parts = max(1, min(max_parts, MAX_PARTS))
    min_part_size = max(MIN_PART_SIZE, min_part_size)
    if part_size is None:
        needed = _round_up(-(-size // max_parts), MIB)
        part_size = min(MAX_PART_SIZE, max(DEFAULT_PART_SIZE, min_part_size, needed))
    elif not min_part_size <= part_size <= MAX_PART_SIZE:
        raise InvalidRequestError(
            f"A part size of {format_size(part_size)} is outside what S3 accepts "
            f"({format_size(min_part_size)} to {format_size(MAX_PART_SIZE)})."
        )
    count = max(1, -(-size // part_size))
    if count > max_parts:
        raise InvalidRequestError(
            f"With parts of {format_size(part_size)} this {format_size(size)} file needs {count:,} parts, "
            f"more than the {max_parts:,} allowed. Choose a part size of at least "
            f"{format_size(_round_up(-(-size // max_parts), MIB))}, or leave it automatic."
        )
    return PartPlan(size=size, part_size=part_size, count=count)


def plan_parallel(size: int, *, max_parts: int = MAX_PARTS) -> PartPlan:
    """The automatic plan for an engine that may use up to `PARALLEL_PARTS` connections on one file:
    parts of `DEFAULT_PART_SIZE` at most, smaller (down to 5 MiB) when that gives the file more of
    them; a file of one default part or less stays one part (a single request)."""
    if size <= DEFAULT_PART_SIZE:
        return plan_parts(size, max_parts=max_parts)
    spread = _round_up(-(-size // PARALLEL_PARTS), MIB)
    part_size = min(DEFAULT_PART_SIZE, max(MIN_PART_SIZE, spread))
    if -(-size // part_size) > max_parts:
        return plan_parts(size, max_parts=max_parts)
    return plan_parts(size, part_size, max_parts=max_parts)


def format_size(size: float) -> str:
    """Bytes in the binary units people read in file managers: '5 MiB', '48.8 TiB', '512 bytes'."""
    if size < 1024:
        return f"{int(size)} bytes" if size != 1 else "1 byte"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    raise AssertionError("unreachable")
