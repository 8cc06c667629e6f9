"""`python -m app --local`: the whole app on an in-process local stack, signed in, saying which API."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox

from app import local_backend as local_backend_module
from app.__main__ import main
from app.gui.main_window import MainWindow

pytestmark = pytest.mark.slow


def test_local_mode_signs_in_to_the_local_stack_and_says_so(qtbot, s3up_home, memory_keyring) -> None:
    seen: dict[str, object] = {}

    def inspect_and_quit() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            QTimer.singleShot(100, inspect_and_quit)
            return
        window = windows[0]
        seen["title"] = window.windowTitle()
        seen["api"] = window.api_label.text()
        seen["signed_in"] = window.session.signed_in
        seen["sign_in_dialog"] = window.sign_in_dialog
        seen["token"] = window.session.credentials.get(window.session.api_url)
        account = next(m for m in window.menuBar().findChildren(QMenu) if m.title() == "&Account")
        seen["account"] = [(a.text(), a.isEnabled(), a.isVisible()) for a in account.actions() if a.text()]
        window.close()

    QTimer.singleShot(300, inspect_and_quit)
    try:
        assert main(["--local"]) == 0
    finally:
        gc.unfreeze()  # run() froze the start-up objects, as the app does
    assert seen["title"] == "s3up — Local test API"  # Qt adds nothing: no application display name
    assert str(seen["api"]).startswith("Local test API (127.0.0.1:")
    assert seen["signed_in"] is True
    assert seen["sign_in_dialog"] is None  # no need to sign in
    # The Account menu says where the app is signed in and offers another API; Sign Out is greyed out.
    (caption, caption_enabled, _), *items = seen["account"]
    assert caption.startswith("Local test API (127.0.0.1:")
    assert not caption_enabled
    assert ("Sign In to Another API…", True, True) in items
    assert ("Sign Out", False, True) in items
    assert memory_keyring.secrets == {}  # the local token stays in memory
    log = (s3up_home / "logs" / "s3up.log").read_text()
    assert "s3up starting" in log
    assert seen["token"]
    assert str(seen["token"]) not in log


def test_help_needs_no_display() -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "app", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert answer.returncode == 0
    assert "--local" in answer.stdout
    assert "PySide6" not in answer.stderr


def test_a_local_api_that_stays_stopped_is_said_in_the_window(
    qtbot, s3up_home, memory_keyring, monkeypatch
) -> None:
    monkeypatch.setattr(local_backend_module, "MAX_RESTARTS", 0)
    seen: dict[str, str] = {}

    def kill_the_local_api() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            QTimer.singleShot(100, kill_the_local_api)
            return
        [pid] = [
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit()
            and b"app.local_backend" in _read(entry / "cmdline")
            and f"PPid:\t{os.getpid()}\n".encode() in _read(entry / "status")
        ]
        os.kill(pid, signal.SIGKILL)
        QTimer.singleShot(100, lambda: look_for_the_box(windows[0], 100))

    def look_for_the_box(window: MainWindow, tries: int) -> None:
        box = window.findChild(QMessageBox, "engine-stopped")
        if box is None and tries > 0:
            QTimer.singleShot(100, lambda: look_for_the_box(window, tries - 1))
            return
        seen["box"] = box.text() if box is not None else ""
        window.close()

    QTimer.singleShot(300, kill_the_local_api)
    try:
        assert main(["--local"]) == 0
    finally:
        gc.unfreeze()
    assert seen["box"] == local_backend_module.STOPPED_FOR_GOOD


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # gone meanwhile
        return b""
