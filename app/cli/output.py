"""What the CLI prints: a steady live progress line on a terminal, one line (or JSON object) per file.

Sizes are binary (KiB, MiB, GiB: powers of 1024), labelled as such, as everywhere in s3up.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import threading
import time
from collections.abc import Iterable
from typing import TextIO

from app.core.models import UploadRequest, UploadState, UploadStatus
from app.core.planner import format_size

# Widths of the live line's fields, so that it never shifts as the numbers change.
_SIZE_WIDTH = len("1023.9 MiB")
_SPEED_WIDTH = len("1023.9 MiB/s")
_ETA_WIDTH = len("ETA 99:59:59")
_SENDING = (UploadState.QUEUED, UploadState.UPLOADING)


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


# The `--json` record of a file that could not be added (same fields, no upload behind it).
REFUSED_JSON: dict[str, object] = {
    "id": None, "file": "", "key": "", "url": None, "size": None, "bytesDone": 0, "status": "refused",
    "uploadId": None, "linkVerified": None, "apiUrl": None, "error": "", "sentElsewhere": False,
}  # fmt: skip


MAX_ETA_HOURS = 99


def format_duration(seconds: float | None) -> str:
    """ "mm:ss", "h:mm:ss", up to "99:59:59"; "--:--" when unknown, ">99 h" beyond."""
    if seconds is None:
        return "--:--"
    if seconds >= MAX_ETA_HOURS * 3600 + 3599:
        return f">{MAX_ETA_HOURS} h"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def next_step(status: UploadStatus) -> str:
    """What the user can do about an upload that stopped unfinished: a command that will work."""
    ref = status.id
    if status.sent_elsewhere:
        return "Another s3up process is sending it."
    if status.state is UploadState.NEEDS_SIGN_IN:
        return f"Sign in again (`s3up login`), then `s3up resume {ref}` continues it."
    if status.state is UploadState.CONFLICT:
        return (
            f"`s3up resume {ref} --overwrite` replaces that object; `s3up resume {ref} --key NEWKEY` "
            "uploads the file under another key."
        )
    if status.state is UploadState.FILE_CHANGED:
        return f"Upload the file again as a new upload; `s3up abort {ref}` deletes the parts already sent."
    if status.state is UploadState.FILE_MISSING:
        return (
            f"Put the file back at {status.path} and run `s3up resume {ref}`, or `s3up abort {ref}` deletes "
            "the parts already sent."
        )
    if status.state in (UploadState.CANCELLED, UploadState.DONE):
        return ""
    return f"`s3up resume {ref}` continues it."


def result_line(status: UploadStatus) -> str:
    """One line for a file that stopped: its link, or why it stopped and what to do."""
    name = status.path.name
    if status.state is UploadState.DONE:
        link = status.url or f"(key {status.key}; configure --cdn-base-url for a link)"
        check = {True: "", False: "  (link not serving the file yet)", None: ""}[status.link_verified]
        return f"done      {name} -> {link}{check}"
    reason = (status.message or status.state.label).rstrip()
    if not reason.endswith((".", "!", "?", "…")):
        reason += "."  # a server's words may end without one; the next sentence must not run on
    step = next_step(status)
    return f"{status.state.value:<9} {name} [upload {status.id}]: {reason}" + (f" {step}" if step else "")


class ProgressPrinter:
    """Prints results as files finish, and a live progress line on stderr when it is a terminal.

    Only the uploads it was told to `watch` are printed and drawn. `update` (the manager's subscriber,
    on engine threads) only records; the command's own thread prints, woken by `news` as soon as a
    watched upload stops, so that `--json` lines stream as files finish (flushed after each batch) and
    a slow reader of stdout never holds up the engine.

    The live line keeps its width: every field is padded to its longest form. The speed is never shown
    above `bandwidth_limit` (bytes/s), and "finishing…" replaces speed and ETA once every part is sent.
    """

    def __init__(
        self,
        *,
        as_json: bool,
        out: TextIO = sys.stdout,
        err: TextIO = sys.stderr,
        bandwidth_limit: float | None = None,
    ) -> None:
        self._as_json = as_json
        self._out = out
        self._err = err
        self._live = err.isatty()
        self._limit = bandwidth_limit
        self._lock = threading.Lock()
        self._latest: dict[int, UploadStatus] = {}
        self._watched: dict[int, None] = {}  # in the order given
        self._stopped: dict[int, None] = {}  # watched, stopped, not printed yet
        self._reported: set[int] = set()
        self._line_shown = False
        self.news = threading.Event()  # set when a watched upload stopped

    def watch(self, upload_refs: Iterable[int]) -> None:
        """Report and draw these uploads too."""
        with self._lock:
            for upload_ref in upload_refs:
                self._watched[upload_ref] = None
                status = self._latest.get(upload_ref)
                if status is not None:
                    self._note(status)

    def update(self, status: UploadStatus) -> None:
        """Subscriber for the manager (called on engine threads)."""
        with self._lock:
            self._latest[status.id] = status
            if status.id in self._watched:
                self._note(status)

    def _note(self, status: UploadStatus) -> None:
        if not status.state.is_active and status.id not in self._reported:
            self._stopped[status.id] = None
            self.news.set()

    def report_finished(self) -> None:
        """Print each watched upload that has stopped and was not printed yet."""
        with self._lock:
            self.news.clear()
            stopped, self._stopped = self._stopped, {}
            if not stopped:
                return
            self._clear_line()
            for upload_ref in stopped:
                self._reported.add(upload_ref)
                self._out.write(self._result(self._latest[upload_ref]) + "\n")
            self._out.flush()

    def report(self, status: UploadStatus) -> None:
        """Print one upload's record unconditionally (for `list --json`)."""
        with self._lock:
            self._clear_line()
            self._out.write(self._result(status) + "\n")
            self._out.flush()

    def report_refused(self, request: UploadRequest, message: str) -> None:
        """Print a file the engine refused to add (it changed or went after the folder was walked)."""
        with self._lock:
            self._clear_line()
            if self._as_json:
                record = {"file": str(request.path), "key": request.key, "apiUrl": request.api_url}
                self._out.write(json.dumps({**REFUSED_JSON, **record, "error": message}) + "\n")
            else:
                self._out.write(f"{'refused':<9} {request.path.name}: {message}\n")
            self._out.flush()

    def draw(self) -> None:
        """Redraw the live line: bar, percentage, bytes, speed, ETA, files finished."""
        if not self._live or self._as_json:
            return
        with self._lock:
            statuses = [self._latest[i] for i in self._watched if i in self._latest]
            if not statuses:
                return
            text = live_text(statuses, self._limit)
            width = shutil.get_terminal_size((80, 20)).columns
            bar_width = max(10, width - len(text) - 3)
            total = sum(s.size for s in statuses) or 1
            filled = int(bar_width * min(1.0, sum(s.bytes_done for s in statuses) / total))
            line = f"[{'#' * filled}{'.' * (bar_width - filled)}]{text}"
            self._err.write("\r" + line[: width - 1])
            self._err.flush()
            self._line_shown = True

    def finish(self) -> None:
        """Take the live line away (before the last messages, or on Ctrl-C)."""
        with self._lock:
            self._clear_line()

    def _clear_line(self) -> None:
        if self._line_shown:
            self._err.write("\r\033[K")
            self._err.flush()
            self._line_shown = False

    def _result(self, status: UploadStatus) -> str:
        return json.dumps(status_json(status)) if self._as_json else result_line(status)


def live_text(statuses: list[UploadStatus], bandwidth_limit: float | None = None) -> str:
    """The live line without its bar; the same length whatever the numbers (for one set of files)."""
    total = sum(s.size for s in statuses)
    done = sum(s.bytes_done for s in statuses)
    finished = sum(1 for s in statuses if not s.state.is_active)
    sending = [s for s in statuses if s.state in _SENDING]
    if not sending and finished < len(statuses):  # every part is sent; completing and checking links
        speed_text, eta_text = "finishing…", ""
    elif not any(s.state is UploadState.UPLOADING for s in sending):
        speed_text, eta_text = "starting…", ""
    else:
        speed = sum(s.speed for s in sending)
        if bandwidth_limit:
            speed = min(speed, bandwidth_limit)  # a burst at the start is no faster link
        eta = (total - done) / speed if speed > 1 else None
        speed_text, eta_text = f"{format_size(speed)}/s", f"ETA {format_duration(eta)}"
    fraction = done / total if total else finished / len(statuses)
    percent = math.floor(1000 * fraction) / 10  # 100.0% only when every byte is there
    count_width = len(str(len(statuses)))
    return (
        f" {percent:5.1f}%  {format_size(done):>{_SIZE_WIDTH}} of {format_size(total):>{_SIZE_WIDTH}}  "
        f"{speed_text:>{_SPEED_WIDTH}}  {eta_text:<{_ETA_WIDTH}}  "
        f"files {finished:>{count_width}}/{len(statuses)}"
    )


def state_word(status: UploadStatus) -> str:
    """The state as `s3up list` names it; "Sent elsewhere" while another s3up process sends it."""
    return "Sent elsewhere" if status.sent_elsewhere else status.state.label


LIST_HEADER = (
    f"{'ID':>5}  {'STATE':<14} {'DONE':>6}  {'SIZE':>{_SIZE_WIDTH}}  {'WHEN':<16}  KEY  LINK OR NOTE"
)


def list_line(status: UploadStatus) -> str:
    """A row of `s3up list`, under `LIST_HEADER`."""
    percent = 100.0 * status.fraction
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(status.finished_at or status.created_at))
    tail = status.url or status.message or ""
    size = format_size(status.size)
    state = state_word(status)
    return f"{status.id:>5}  {state:<14} {percent:5.1f}%  {size:>{_SIZE_WIDTH}}  {when}  {status.key}  {tail}"
