"""What the CLI prints: a live progress line on a terminal, one line (or JSON object) per finished file."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections.abc import Iterable
from typing import TextIO

from app.core.models import UploadState, UploadStatus
from app.core.planner import format_size


def status_json(status: UploadStatus) -> dict[str, object]:
    """The `--json` record of one upload."""
    return {
        "id": status.id,
        "file": str(status.path),
        "key": status.key,
        "url": status.url,
        "size": status.size,
        "bytesDone": status.bytes_done,
        "status": status.state.value,
        "uploadId": status.upload_id,
        "linkVerified": status.link_verified,
        "apiUrl": status.api_url,
        "error": status.message if status.state is not UploadState.DONE else None,
        "sentElsewhere": status.sent_elsewhere,
    }


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def result_line(status: UploadStatus) -> str:
    """One line for a file that stopped: its link, or why it stopped and what to do."""
    name = status.path.name
    if status.state is UploadState.DONE:
        link = status.url or f"(key {status.key}; configure --cdn-base-url for a link)"
        check = {True: "", False: "  (link not serving the file yet)", None: ""}[status.link_verified]
        return f"done      {name} -> {link}{check}"
    reason = status.message or status.state.label
    return f"{status.state.value:<9} {name}: {reason} [upload {status.id}]"


class ProgressPrinter:
    """Prints results as files finish, and a live progress line on stderr when it is a terminal."""

    def __init__(self, *, as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self._as_json = as_json
        self._out = out
        self._err = err
        self._live = err.isatty()
        self._lock = threading.Lock()
        self._latest: dict[int, UploadStatus] = {}
        self._reported: set[int] = set()
        self._line_shown = False

    def update(self, status: UploadStatus) -> None:
        """Subscriber for the manager (called on engine threads)."""
        with self._lock:
            self._latest[status.id] = status

    def report_finished(self, wanted: Iterable[int]) -> None:
        """Print each wanted upload that has stopped and was not printed yet."""
        with self._lock:
            stopped = [
                s
                for i, s in self._latest.items()
                if i in set(wanted) and i not in self._reported and not s.state.is_active
            ]
            for status in stopped:
                self._reported.add(status.id)
                self._clear_line()
                self._print_result(status)

    def report(self, status: UploadStatus) -> None:
        """Print one upload's record unconditionally (for `list`)."""
        with self._lock:
            self._print_result(status)

    def draw(self, wanted: Iterable[int]) -> None:
        """Redraw the live line: overall progress, speed, ETA, files done."""
        if not self._live or self._as_json:
            return
        with self._lock:
            statuses = [self._latest[i] for i in wanted if i in self._latest]
            if not statuses:
                return
            total = sum(s.size for s in statuses) or 1
            done = sum(s.bytes_done for s in statuses)
            speed = sum(s.speed for s in statuses)
            finished = sum(1 for s in statuses if not s.state.is_active)
            eta = (total - done) / speed if speed > 1 else None
            width = shutil.get_terminal_size((80, 20)).columns
            text = (
                f" {done * 100 / total:5.1f}%  {format_size(done)} of {format_size(total)}  "
                f"{format_size(speed)}/s  ETA {format_duration(eta)}  files {finished}/{len(statuses)}"
            )
            bar_width = max(10, width - len(text) - 4)
            filled = int(bar_width * done / total)
            line = f"[{'#' * filled}{'.' * (bar_width - filled)}]{text}"
            self._err.write("\r" + line[: width - 1])
            self._err.flush()
            self._line_shown = True

    def finish(self) -> None:
        with self._lock:
            self._clear_line()

    def _clear_line(self) -> None:
        if self._line_shown:
            self._err.write("\r\033[K")
            self._err.flush()
            self._line_shown = False

    def _print_result(self, status: UploadStatus) -> None:
        if self._as_json:
            self._out.write(json.dumps(status_json(status)) + "\n")
        else:
            self._out.write(result_line(status) + "\n")
        self._out.flush()


def state_word(status: UploadStatus) -> str:
    """The state as `s3up list` names it; "Sent elsewhere" while another s3up process sends it."""
    return "Sent elsewhere" if status.sent_elsewhere else status.state.label


def list_line(status: UploadStatus) -> str:
    """A row of `s3up list`."""
    percent = 100.0 * status.fraction
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(status.finished_at or status.created_at))
    tail = status.url or status.message or ""
    return (
        f"{status.id:>5}  {state_word(status):<14} {percent:5.1f}%  {format_size(status.size):>10}  "
        f"{when}  {status.key}  {tail}"
    )
