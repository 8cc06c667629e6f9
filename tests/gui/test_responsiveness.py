"""Issue item 8: while 8 files upload through the local stack, the GUI thread never stalls for long and
every row's progress refreshes several times a second.

How: the local stack runs in a child process (as the real API and S3 run on other machines, so the
app's process holds only the GUI and the engine); a 5 ms QTimer records how late each tick fires (the
longest lateness is the longest event-loop stall); the model's per-row `dataChanged` signals, counted
while each upload is sending bytes, give each row's refresh rate. The figures are printed (`pytest -s`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from app.core.models import MIB, TransferSettings, UploadState
from tests.gui.test_drop import drop, start_batch
from tests.gui.test_local_stack import make_files

pytestmark = pytest.mark.slow

FILES = 8
FILE_SIZE = 12 * MIB
TICK_MS = 5
MAX_STALL_MS = 50
MIN_REFRESH_HZ = 5


STACK_SCRIPT = """
import json, sys
from backend.local import LocalStack
with LocalStack(port=0) as stack:
    token = stack.issue_token(principal="tester", organization_id="org-7")
    print(json.dumps({"api_url": stack.api_url, "cdn_base_url": stack.cdn_base_url, "token": token}), flush=True)
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


class StallProbe:
    """Measures how late a 5 ms timer fires: any lateness is time the event loop could not run."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst_ms = 0.0
        self.ticks = 0

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst_ms = max(self.worst_ms, (now - self.last) * 1000 - TICK_MS)
        self.last = now
        self.ticks += 1


def test_the_gui_stays_responsive_while_8_files_upload(
    qtbot, make_window, make_manager, stack_process, tmp_path
) -> None:
    files = make_files(tmp_path / "src", [FILE_SIZE] * FILES, prefix="busy")
    manager = make_manager(TransferSettings(part_size=5 * MIB, max_connections=8, per_file_connections=1))
    window = make_window(
        manager,
        api_url=stack_process["api_url"],
        cdn_base_url=stack_process["cdn_base_url"],
        token=stack_process["token"],
    )
    window.resize(1200, 700)

    updates: dict[int, list[float]] = defaultdict(list)  # upload id → when its row refreshed while sending

    def on_changed(top, _bottom) -> None:
        status = window.model.status_at(top.row())
        if status.state is UploadState.UPLOADING and status.bytes_done > 0:
            updates[status.id].append(time.perf_counter())

    window.model.dataChanged.connect(on_changed)
    drop(window, files)
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

    rates = []
    for times in updates.values():
        if len(times) >= 3:
            rates.append((len(times) - 1) / (times[-1] - times[0]))
    slowest = min(rates)
    print(
        f"\n{FILES} × {FILE_SIZE // MIB} MiB in {elapsed:.1f} s ({FILES * FILE_SIZE / MIB / elapsed:.0f} MiB/s); "
        f"longest event-loop stall {probe.worst_ms:.1f} ms over {probe.ticks} ticks; "
        f"row refresh rate while uploading: slowest {slowest:.1f} Hz, median {sorted(rates)[len(rates) // 2]:.1f} Hz"
    )
    assert len(rates) == FILES, f"every row refreshed while uploading ({len(rates)} of {FILES})"
    assert probe.worst_ms <= MAX_STALL_MS
    assert slowest >= MIN_REFRESH_HZ
    assert max(rates) <= 15, "rows repaint at most ~10 times a second"
