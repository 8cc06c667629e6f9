"""Running uploads from a command: the engine with the command's settings, and the wait that prints.

`engine(...)` opens the core on the user's journal and, on the way out (Ctrl-C included), pauses what it
was sending. `Watch` prints each upload as it stops (a line, or a `--json` object, flushed at once) and
redraws the live line, while the command goes on adding files; `Watch.wait` ends with the exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from app.cli import Interruption
from app.cli.context import EXIT_FAILED, EXIT_OK
from app.cli.output import ProgressPrinter
from app.core.engine import open_engine
from app.core.manager import UploadManager
from app.core.models import MIB, TransferSettings, UploadRequest
from app.core.states import UploadState

REDRAW_SECONDS = 0.2  # the live line's pace
PRINT_SECONDS = 0.05  # finished files are printed within this (in batches when thousands finish)


def transfer_settings(args: argparse.Namespace) -> TransferSettings:
    """The engine's limits from the command's options; without --concurrency the engine adapts its
    connections (2 to 64) to what the network gives."""
    concurrency = getattr(args, "concurrency", None)
    part_size = getattr(args, "part_size", None)
    bandwidth_limit = getattr(args, "bandwidth_limit", None)
    return TransferSettings(
        max_connections=concurrency,
        per_file_connections=concurrency,
        part_size=part_size * MIB if part_size else None,
        bandwidth_limit=bandwidth_limit * MIB if bandwidth_limit else None,
        accelerate=getattr(args, "accelerate", False),
    )


@contextmanager
def engine(
    args: argparse.Namespace, token_source: Callable[[str], str | None], interruption: Interruption
) -> Iterator[UploadManager]:
    """A manager on the default journal. On the way out (Ctrl-C included) what it is sending is paused
    and its threads stop; every upload stays resumable."""
    with open_engine(token_source, transfer_settings(args)) as opened:
        try:
            yield opened.manager
        except KeyboardInterrupt:
            interruption.requested.set()
            for status in opened.manager.statuses():
                if status.state in (UploadState.UPLOADING, UploadState.FINALIZING):
                    opened.manager.pause(status.id)
            raise


class Watch:
    """The uploads one command waits for, printed as each one stops."""

    def __init__(self, manager: UploadManager, args: argparse.Namespace) -> None:
        limit = args.bandwidth_limit * MIB if getattr(args, "bandwidth_limit", None) else None
        self._manager = manager
        self._as_json = bool(args.json)
        self.printer = ProgressPrinter(as_json=self._as_json, bandwidth_limit=limit)
        self._unsubscribe = manager.subscribe(self.printer.update)  # before anything is added
        self._wanted: list[int] = []
        self._refused = 0

    def add(self, upload_refs: Iterable[int]) -> None:
        """Wait for these uploads too (added, or resumed, by the command)."""
        upload_refs = list(upload_refs)
        for status in map(self._manager.status, upload_refs):  # what happened before the subscription
            if status is not None:
                self.printer.update(status)
        self._wanted += upload_refs
        self.printer.watch(upload_refs)

    def refused(self, request: UploadRequest, message: str) -> None:
        """A file that could not be added: printed at once, and it counts as not finished."""
        self._refused += 1
        self.printer.report_refused(request, message)

    def pump(self) -> None:
        """Print what stopped since the last call and redraw the live line (between additions)."""
        self.printer.report_finished()
        self.printer.draw()

    def wait(self, interruption: Interruption) -> int:
        """Wait for every upload added, printing as they stop. Returns the exit status."""
        manager, printer = self._manager, self.printer
        try:
            while not manager.wait(self._wanted, timeout=0):
                printer.news.wait(REDRAW_SECONDS)
                interruption.check()
                self.pump()
                interruption.requested.wait(PRINT_SECONDS)  # paces the loop; Ctrl-C still ends it
        finally:
            printer.finish()
            self._unsubscribe()
        finals = [manager.status(upload_ref) for upload_ref in self._wanted]
        for status in finals:  # the last word of each, whatever the order of the events
            if status is not None:
                printer.update(status)
        printer.report_finished()
        failed = self._refused + sum(1 for s in finals if s is None or s.state is not UploadState.DONE)
        total = len(self._wanted) + self._refused
        if failed and not self._as_json:
            print(
                f"{failed} of {total} file{'s' if total != 1 else ''} did not finish; the line of each says "
                "why and what to do.",
                file=sys.stderr,
            )
        return EXIT_FAILED if failed else EXIT_OK
