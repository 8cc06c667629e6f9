"""While 8 files upload through the local stack, the GUI thread does not stall for long and every row's
progress refreshes several times a second.

The bound asserted here must hold on a loaded, shared 2-core machine, where the OS may take the CPU away
from this process for 100 ms or more at any moment: so the test asserts the median and 90th percentile
of how late a timer fires, not the longest stall. The figures to tune against (p50/p99, goal p99 <= 16
ms) come from `benchmarks/bench_gui_stall.py`, which also adds a folder of 10,000 files.

How it is measured:
- the local stack runs in a child process at a lower CPU priority: in real use the API and S3 run on
  other machines, so the app's process holds only the GUI and the engine (an in-process stack would
  compete with the GUI for this 2-core machine's CPU and the interpreter lock);
- a 5 ms QTimer records how late each tick fires: the longest lateness is the longest event-loop stall;
- the progress refresh rate is how often the window shows new byte counts while files are sending
  (batches from the bridge that carry progress), and for each row 1 / the median interval between its
  refreshes (a row whose bytes did not move has nothing new to show, so pauses between parts or a
  slower file are not missed refreshes; the median looks past them).
The figures are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import gc
import itertools
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QTimer

from app.core.models import MIB, TransferSettings, UploadState
from app.gui.memory import freeze_startup_objects
from tests.gui.test_drop import drop, start_batch
from tests.gui.test_local_stack import make_files

pytestmark = pytest.mark.slow

FILES = 8
FILE_SIZE = 16 * MIB
TICK_MS = 5
# Work on the GUI thread per update shows in most ticks; a busy machine only in a few. So the bounds are
# on the median and the 90th percentile of the lateness, not on the longest stall.
MAX_MEDIAN_STALL_MS = 10
MAX_P90_STALL_MS = 50
MIN_REFRESH_HZ = 3  # designed for 10 Hz; a loaded shared machine delays the GUI thread's turns
MAX_ROW_REFRESH_HZ = 12  # a row repaints at most ~10 times a second
SEND_RATE = 40 * MIB  # bytes per second for all files: about 3 s of sending

# The stack runs in a child process, as S3 and the API run on other machines in real use.
STACK_SCRIPT = """
import json, os, sys
from backend.local import LocalStack
os.nice(10)
with LocalStack(port=0) as stack:
    token = stack.issue_token(principal="tester", organization_id="org-7")
    answer = {"api_url": stack.api_url, "cdn_base_url": stack.cdn_base_url, "token": token}
    print(json.dumps(answer), flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


@pytest.fixture
def stack_process() -> Iterator[dict[str, str]]:
    """The local stack in a child process: its API URL, CDN base URL and a token."""
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", STACK_SCRIPT],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line, "the local stack did not start"
        yield json.loads(line)
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@pytest.fixture
def frozen_objects() -> Iterator[None]:
    yield
    gc.unfreeze()


class StallProbe:
    """Measures how late a 5 ms timer fires: any lateness is time the event loop could not run."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.lateness_ms: list[float] = []

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.lateness_ms.append(max(0.0, (now - self.last) * 1000 - TICK_MS))
        self.last = now


def test_the_gui_stays_responsive_while_8_files_upload(
    qtbot, make_window, make_manager, stack_process, frozen_objects, tmp_path
) -> None:
    files = make_files(tmp_path / "src", [FILE_SIZE] * FILES, prefix="busy")
    # The bandwidth cap makes every file send for seconds whatever the machine's speed, so that each row
    # has progress to show (on an idle machine the local S3 takes a 16 MiB file in a fraction of a second).
    manager = make_manager(
        TransferSettings(
            part_size=5 * MIB, max_connections=8, per_file_connections=1, bandwidth_limit=SEND_RATE
        )
    )
    window = make_window(
        manager,
        api_url=stack_process["api_url"],
        cdn_base_url=stack_process["cdn_base_url"],
        token=stack_process["token"],
    )
    window.resize(1200, 700)
    refreshes: dict[int, list[float]] = defaultdict(list)  # upload id → when its row changed while sending

    shown_bytes: dict[int, int] = {}

    def on_changed(top: QModelIndex, bottom: QModelIndex) -> None:  # one signal spans a batch's rows
        for row in range(top.row(), bottom.row() + 1):
            status = window.model.status_at(row)
            moved = shown_bytes.get(status.id) != status.bytes_done
            shown_bytes[status.id] = status.bytes_done
            if moved and status.state is UploadState.UPLOADING and status.bytes_done > 0:
                refreshes[status.id].append(time.perf_counter())

    window.model.dataChanged.connect(on_changed)
    progress_batches: list[float] = []  # when the bridge delivered byte progress to the window
    window.bridge.statuses_changed.connect(
        lambda batch: (
            any(s.state is UploadState.UPLOADING and s.bytes_done for s in batch)
            and progress_batches.append(time.perf_counter())
        )
    )
    drop(window, files)
    freeze_startup_objects()  # as `application.run` does once the window is up
    probe = StallProbe()
    start_batch(qtbot, window)
    probe.start()
    began = time.perf_counter()
    qtbot.waitUntil(lambda: window.model.rowCount() == FILES, timeout=10000)
    qtbot.waitUntil(
        lambda: all(window.model.status_at(r).state is UploadState.DONE for r in range(FILES)), timeout=120000
    )
    elapsed = time.perf_counter() - began
    probe.stop()

    row_rates = sorted(
        1 / statistics.median(b - a for a, b in itertools.pairwise(times))
        for times in refreshes.values()
        if len(times) >= 3
    )
    window_rate = (len(progress_batches) - 1) / (progress_batches[-1] - progress_batches[0])
    stalls = sorted(probe.lateness_ms)
    throughput = FILES * FILE_SIZE / MIB / elapsed
    print(
        f"\n{FILES} × {FILE_SIZE // MIB} MiB in {elapsed:.1f} s ({throughput:.0f} MiB/s): longest event-loop "
        f"stall {stalls[-1]:.1f} ms (95th percentile {stalls[int(len(stalls) * 0.95)]:.1f} ms, 99th "
        f"{stalls[int(len(stalls) * 0.99)]:.1f} ms, {len(stalls)} "
        f"ticks of {TICK_MS} ms); progress refresh {window_rate:.1f} Hz, per row {row_rates[0]:.1f}–"
        f"{row_rates[-1]:.1f} Hz (median {statistics.median(row_rates):.1f} Hz)"
    )
    assert len(row_rates) == FILES, f"every row refreshed while sending ({len(row_rates)} of {FILES})"
    assert statistics.median(stalls) <= MAX_MEDIAN_STALL_MS
    assert stalls[int(len(stalls) * 0.90)] <= MAX_P90_STALL_MS
    assert window_rate >= MIN_REFRESH_HZ
    assert statistics.median(row_rates) >= MIN_REFRESH_HZ
    assert row_rates[-1] <= MAX_ROW_REFRESH_HZ
