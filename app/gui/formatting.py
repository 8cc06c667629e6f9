"""Short, human texts for sizes, speeds, durations, times and percentages, shown everywhere in the app.

Sizes are binary multiples labelled as such (1 KiB = 1024 bytes, 1 MiB = 1024 KiB), the convention of
the Settings dialog and the command line, so that a number means the same thing wherever it appears.
"""

from __future__ import annotations

import math
import time

_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: float) -> str:
    """`1536` → `"1.5 KiB"`, `104857600` → `"100 MiB"`; one decimal below 100 of a unit."""
    if size < 1024:
        count = int(size)
        return "1 byte" if count == 1 else f"{count} bytes"
    value = float(size)
    unit = 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    if round(value, 1) >= 100:
        return f"{value:.0f} {_UNITS[unit]}"
    return f"{value:.1f} {_UNITS[unit]}"


def human_speed(bytes_per_second: float) -> str:
    """`"12.3 MiB/s"`, or an empty string when nothing moves."""
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


def percent(fraction: float) -> int:
    """Whole percent, rounded down: 99.7 % reads 99 %, so 100 % means every byte is there."""
    return max(0, min(100, math.floor(fraction * 100 + 1e-9)))


def percent_text(fraction: float) -> str:
    """The one way a percentage is written (table, progress bar, details pane): `"42 %"`."""
    return f"{percent(fraction)} %"


def added_text(timestamp: float, now: float | None = None) -> str:
    """When an upload was added: `"14:02"` today, `"3 Mar 14:02"` this year, else `"3 Mar 2025"`."""
    if timestamp <= 0:
        return ""
    moment, today = time.localtime(timestamp), time.localtime(now if now is not None else time.time())
    if moment[:3] == today[:3]:
        return time.strftime("%H:%M", moment)
    if moment.tm_year == today.tm_year:
        return f"{moment.tm_mday} {time.strftime('%b %H:%M', moment)}"
    return f"{moment.tm_mday} {time.strftime('%b %Y', moment)}"


def moment_text(timestamp: float, now: float | None = None) -> str:
    """A moment to come or just past, for deadlines: `"today 14:02"`, `"tomorrow 09:00"`, `"3 Mar 14:02"`,
    `"3 Mar 2027 14:02"`."""
    moment, today = time.localtime(timestamp), time.localtime(now if now is not None else time.time())
    clock = time.strftime("%H:%M", moment)
    if moment[:3] == today[:3]:
        return f"today {clock}"
    tomorrow = time.localtime(time.mktime((*today[:2], today.tm_mday + 1, 12, 0, 0, 0, 0, -1)))
    if moment[:3] == tomorrow[:3]:
        return f"tomorrow {clock}"
    if moment.tm_year == today.tm_year:
        return f"{moment.tm_mday} {time.strftime('%b', moment)} {clock}"
    return f"{moment.tm_mday} {time.strftime('%b %Y', moment)} {clock}"


def plural(count: int, word: str) -> str:
    """`plural(1, "file")` → `"1 file"`, `plural(3, "file")` → `"3 files"`."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def sentence(text: str) -> str:
    """`text` ending as a sentence does (a full stop added when it has none), so sentences can be joined."""
    text = text.strip()
    if text and text[-1] not in ".!?…":
        text += "."
    return text


def sentences(*texts: str | None) -> str:
    """The non-empty texts as one paragraph, each ending with its own full stop."""
    return " ".join(sentence(text) for text in texts if text and text.strip())
