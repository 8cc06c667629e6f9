"""Short, human texts for sizes, speeds and durations shown in the table and the status bar."""

from __future__ import annotations

_UNITS = ("bytes", "KB", "MB", "GB", "TB", "PB")


def human_size(size: float) -> str:
    """`1536` → `"1.5 KB"`; binary multiples (1 KB = 1024 bytes), as file managers show them."""
    if size < 1024:
        count = int(size)
        return "1 byte" if count == 1 else f"{count} bytes"
    value = float(size)
    unit = 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    digits = 0 if value >= 100 else 1
    return f"{value:.{digits}f} {_UNITS[unit]}"


def human_speed(bytes_per_second: float) -> str:
    """`"12.3 MB/s"`, or an empty string when nothing moves."""
    if bytes_per_second <= 0:
        return ""
    return f"{human_size(bytes_per_second)}/s"


def human_duration(seconds: float | None) -> str:
    """`"45 s"`, `"3 min 20 s"`, `"2 h 05 min"`; empty when unknown."""
    if seconds is None or seconds < 0:
        return ""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def plural(count: int, word: str) -> str:
    """`plural(1, "file")` → `"1 file"`, `plural(3, "file")` → `"3 files"`."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
