"""`s3up`: upload, resume, list and abort uploads from a terminal, on the same core as the desktop app.

Exit status: 0 when every file finished, 1 when some did not (one line per file says why and what to
do), 2 when the command could not start (bad arguments, metadata, paths, API or token; nothing was
uploaded), 130 on Ctrl-C (what was started is paused, and `s3up resume` continues it).

Ctrl-C is handled here, at the top, from the first moment: the first one stops whatever runs (an API
call, the folder walk, sending, finishing), leaves the journal resumable and ends with one sentence;
further ones while that happens are ignored. The commands are imported under that handler.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130


class Interruption:
    """What Ctrl-C would leave behind (`outcome`, the end of a sentence), kept up to date by the running
    command, and whether Ctrl-C was pressed (`requested`), for loops that check it."""

    def __init__(self) -> None:
        self.outcome = "nothing was started"
        self.requested = threading.Event()
        self._deferring = False

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed (in case a library swallowed the first one)."""
        if self.requested.is_set():
            raise KeyboardInterrupt

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Ctrl-C waits for the end of this block (a step of the core that must not stop halfway, such
        as recording a group of files), then stops as usual."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        self.check()

    def on_sigint(self, _signum: int, _frame: FrameType | None) -> None:
        if self.requested.is_set():
            return  # already stopping: let the pause finish
        self.requested.set()
        if not self._deferring:
            raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `s3up` command; returns its exit status."""
    interruption = Interruption()
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interruption.on_sigint) if on_main_thread else None
    try:
        from app.cli.commands import run_command

        return run_command(argv, interruption)
    except KeyboardInterrupt:
        interruption.requested.set()
        start = "\n" if sys.stderr.isatty() else ""  # off the line where the terminal echoed ^C
        print(f"{start}s3up: Stopped by Ctrl-C; {interruption.outcome}.", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if on_main_thread:
            signal.signal(signal.SIGINT, previous)
