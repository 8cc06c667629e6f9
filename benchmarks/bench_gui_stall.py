"""How long the GUI thread stalls while uploads run (run by hand, not in CI).

    xvfb-run -a env QT_QPA_PLATFORM=xcb PYTHONPATH=. python benchmarks/bench_gui_stall.py [--files 10000]

Two scenarios, each with the local stack in a child process (as S3 and the API are elsewhere in real use)
and a 5 ms timer in the app that records how late it fires (any lateness is time the event loop could
not run):
- `eight`: 8 files of 16 MiB uploaded to the end;
- `folder`: a folder of N small files dropped on the window, started, and listed; stalls are recorded from
  Start Upload until every file is listed and for `--run-seconds` of uploading after that. Also reported:
  the time until all rows are listed and the app's peak RSS.
Prints p50 / p99 / max lateness per scenario; the goal is p99 <= 16 ms.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QCoreApplication

from app.core.models import MIB
from app.core.settings import AppSettings
from app.gui.application import create_application
from app.gui.memory import freeze_startup_objects
from app.gui.startup import wired_app
from app.local_backend import LocalApi, local_backend
from tests.gui.test_drop import drop
from tests.gui.test_responsiveness import STACK_SCRIPT, StallProbe

METADATA = '{"organizationId": "org-7", "objectRecordId": "rec-1"}'


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        QCoreApplication.processEvents()
        time.sleep(0.002)


class GcWatch:
    """How long the garbage collector's full collections (generation 2) held the interpreter."""

    def __init__(self) -> None:
        self.durations_ms: list[float] = []
        self._began = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.durations_ms.append((time.perf_counter() - self._began) * 1000)

    def text(self) -> str:
        if not self.durations_ms:
            return "no full collection"
        return f"{len(self.durations_ms)} full collections, longest {max(self.durations_ms):.0f} ms"


def peak_rss_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def figures(lateness: list[float]) -> str:
    ordered = sorted(lateness)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms "
        f"({len(ordered)} ticks)"
    )


def start_stack() -> tuple[object, LocalApi]:
    import json
    import subprocess

    child = subprocess.Popen(
        [sys.executable, "-c", STACK_SCRIPT],
        cwd=Path(__file__).resolve().parents[1],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    answer = json.loads(child.stdout.readline())  # type: ignore[union-attr]
    return child, LocalApi(answer["api_url"], answer["cdn_base_url"], answer["token"])


class InAppStack:
    """The local stack in the app's own process, as `python -m app --local` ran it before."""

    def __init__(self) -> None:
        from backend.local import LocalStack

        self.stack = LocalStack(port=0).start()
        self.stdin = self

    def close(self) -> None:
        self.stack.stop()

    def wait(self, _timeout: float) -> None:
        pass


class AppLocalBackend:
    """The local stack as `python -m app --local` runs it now: `app.local_backend`'s child process."""

    def __init__(self, log_folder: Path) -> None:
        self._context = local_backend(log_folder)
        self.api = self._context.__enter__().api
        self.stdin = self

    def close(self) -> None:
        self._context.__exit__(None, None, None)

    def wait(self, _timeout: float) -> None:
        pass


def start_in_app_stack() -> tuple[object, LocalApi]:
    child = InAppStack()
    token = child.stack.issue_token(principal="tester", organization_id="org-7")
    return child, LocalApi(child.stack.api_url, child.stack.cdn_base_url, token)


def run(
    files: list[Path], *, folder: Path | None, run_seconds: float, timeout: float, stack: str = "child"
) -> None:
    os.environ["S3UP_HOME"] = tempfile.mkdtemp(prefix="s3up-bench-gui-")  # a journal of its own
    if stack == "in-app":
        child, api = start_in_app_stack()
    elif stack == "app":
        backend = AppLocalBackend(Path(os.environ["S3UP_HOME"]) / "logs")
        child, api = backend, backend.api
    else:
        child, api = start_stack()
    settings = AppSettings(key_template="bench/{relpath}", last_metadata=METADATA, notify_when_done=False)
    try:
        with wired_app(local=api, settings=settings) as wired:
            window = wired.window
            window.resize(1200, 700)
            window.show()
            window.start()
            freeze_startup_objects()
            drop(window, [folder] if folder else files)
            wait_until(lambda: (shown := window.adder.metadata_dialog) is not None and shown.isVisible(), 120)
            dialog = window.adder.metadata_dialog
            wait_until(dialog.start_button.isEnabled, 120)
            probe = StallProbe()
            collections = GcWatch()
            probe.start()
            began = time.perf_counter()
            dialog.start_button.click()
            wait_until(lambda: window.model.rowCount() == len(files), timeout)
            listed = time.perf_counter() - began
            print(f"all {len(files):,} listed after {listed:.1f} s: {figures(probe.lateness_ms)}", flush=True)
            if folder is None:
                wait_until(lambda: window.model.summary().done == len(files), timeout)
            else:
                end = time.monotonic() + run_seconds
                wait_until(lambda: time.monotonic() > end, run_seconds + 5)
            elapsed = time.perf_counter() - began
            probe.stop()
            summary = window.model.summary()
            print(
                f"{len(files):,} files: all listed after {listed:.1f} s; {summary.done:,} done after "
                f"{elapsed:.1f} s; stalls {figures(probe.lateness_ms)}; "
                f"peak RSS: window {peak_rss_mib():.0f} MiB, "
                f"engine process {peak_rss_mib(wired.engine.pid or 0):.0f} MiB; "
                f"{collections.text()}",
                flush=True,
            )
            window.close_without_asking()
    finally:
        child.stdin.close()  # type: ignore[attr-defined]
        child.wait(30)  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("eight", "folder", "both"), default="both")
    parser.add_argument("--files", type=int, default=10_000, help="files in the folder scenario")
    parser.add_argument("--run-seconds", type=float, default=30.0, help="time recorded after listing")
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="seconds (sys.setswitchinterval)",
    )
    parser.add_argument(
        "--stack",
        choices=("child", "app", "in-app"),
        default="child",
        help="where the local stack runs: a process of its own (niced), as `python -m app --local` runs "
        "it (app.local_backend), or in the app's process (as --local ran it before)",
    )
    options = parser.parse_args()
    create_application(sys.argv[:1])
    if options.switch_interval is not None:
        sys.setswitchinterval(options.switch_interval)
    print(f"interpreter switch interval {sys.getswitchinterval() * 1000:.1f} ms", flush=True)
    work = Path(tempfile.mkdtemp(prefix="s3up-bench-files-"))
    if options.scenario in ("eight", "both"):
        eight = []
        for number in range(8):
            path = work / "eight" / f"busy-{number}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(16 * MIB))
            eight.append(path)
        run(eight, folder=None, run_seconds=0, timeout=300, stack=options.stack)
    if options.scenario in ("folder", "both"):
        folder = work / "folder"
        many = []
        for number in range(options.files):
            path = folder / f"d{number // 500:02d}" / f"f{number:05d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(1024))
            many.append(path)
        run(many, folder=folder, run_seconds=options.run_seconds, timeout=900, stack=options.stack)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
