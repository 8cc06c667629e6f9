from __future__ import annotations

import itertools

import pytest

from app.core.errors import InvalidRequestError
from app.core.models import GIB, MIB
from app.core.planner import (
    DEFAULT_PART_SIZE,
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    PARALLEL_PARTS,
    format_size,
    plan_parallel,
    plan_parts,
)

TIB = 1024 * GIB


def test_empty_file_is_one_empty_part() -> None:
    plan = plan_parts(0)
    assert plan.count == 1
    assert plan.part(1).length == 0
    assert plan.part(1).offset == 0


@pytest.mark.parametrize(
    ("size", "part_size", "count", "last"),
    [
        (1, None, 1, 1),
        (MIN_PART_SIZE - 1, MIN_PART_SIZE, 1, MIN_PART_SIZE - 1),
        (MIN_PART_SIZE, MIN_PART_SIZE, 1, MIN_PART_SIZE),
        (MIN_PART_SIZE + 1, MIN_PART_SIZE, 2, 1),
        (3 * DEFAULT_PART_SIZE, None, 3, DEFAULT_PART_SIZE),
        (3 * DEFAULT_PART_SIZE + 7, None, 4, 7),
    ],
)
def test_parts_cover_the_file_exactly(size: int, part_size: int | None, count: int, last: int) -> None:
    plan = plan_parts(size, part_size)
    assert plan.count == count
    parts = list(plan.parts())
    assert parts[-1].length == last
    assert sum(p.length for p in parts) == size
    assert all(b.offset == a.offset + a.length for a, b in itertools.pairwise(parts))


def test_part_size_grows_for_large_files_to_stay_within_10000_parts() -> None:
    plan = plan_parts(1 * TIB)
    assert plan.count <= MAX_PARTS
    assert plan.part_size % MIB == 0
    assert plan.part_size > DEFAULT_PART_SIZE


def test_largest_object_fits_exactly() -> None:
    plan = plan_parts(MAX_OBJECT_SIZE)
    assert plan.part_size == MAX_PART_SIZE
    assert plan.count == MAX_PARTS
    assert format_size(MAX_OBJECT_SIZE) == "48.8 TiB"


def test_one_byte_over_the_largest_object_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match=r"larger than the 48\.8 TiB"):
        plan_parts(MAX_OBJECT_SIZE + 1)


@pytest.mark.parametrize("part_size", [MIN_PART_SIZE - 1, MAX_PART_SIZE + 1, 0])
def test_part_size_outside_s3_limits_is_refused(part_size: int) -> None:
    with pytest.raises(InvalidRequestError, match="outside what S3 accepts"):
        plan_parts(100 * MIB, part_size)


def test_explicit_part_size_too_small_for_the_file_says_what_would_work() -> None:
    with pytest.raises(InvalidRequestError, match="needs 20,480 parts") as caught:
        plan_parts(100 * GIB, 5 * MIB)
    assert "at least 11 MiB" in str(caught.value)


def test_max_parts_lowers_the_part_count() -> None:
    plan = plan_parts(100 * GIB, max_parts=1000)
    assert plan.count <= 1000
    assert plan.part_size == 103 * MIB


def test_part_outside_the_plan_is_an_error() -> None:
    plan = plan_parts(10 * MIB, MIN_PART_SIZE)
    with pytest.raises(IndexError):
        plan.part(3)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1024, "1 KiB"),
        (5 * MIB, "5 MiB"),
        (1536 * MIB, "1.5 GiB"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("size", "part_size"),
    [
        (DEFAULT_PART_SIZE, DEFAULT_PART_SIZE),  # one part: one request
        (DEFAULT_PART_SIZE + 1, MIN_PART_SIZE),
        (256 * MIB, MIN_PART_SIZE),  # a far region: 52 parts, so up to 52 connections
        (640 * MIB, 10 * MIB),
        (4 * GIB, DEFAULT_PART_SIZE),
        (1 * TIB, plan_parts(1 * TIB).part_size),  # still within 10,000 parts
    ],
)
def test_an_automatic_plan_gives_big_files_enough_parts_for_many_connections(
    size: int, part_size: int
) -> None:
    plan = plan_parallel(size)
    assert plan.part_size == part_size
    assert plan.count <= MAX_PARTS
    assert plan.count >= min(PARALLEL_PARTS, size // MIN_PART_SIZE) or plan.count == 1
