"""The app as `python -m app` wires it (`startup.wired_app`): the window on an engine in a process of its
own, against the local stack: a dropped file uploads and its link works; a killed engine is replaced and
the upload it was sending goes on; an engine that keeps dying is said."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from PySide6.QtWidgets import QMessageBox
from pytestqt.exceptions import TimeoutError as WaitTimeout

from app.core.commands import Action
from app.core.engine_process import MAX_RESTARTS
from app.core.models import UploadState, UploadStatus
from app.core.settings import AppSettings
from app.gui.main_window import MainWindow
from app.gui.startup import WiredApp, wired_app
from app.local_backend import LocalApi
from backend.local import LocalStack
from tests.gui.test_drop import drop, start_batch

METADATA = '{"organizationId": "org-7", "objectRecordId": "rec-1"}'


def upload_one(qtbot: Any, window: MainWindow, file: Path) -> int:
    """Show the window, drop `file` on it, start it; returns its upload id once it is listed."""
    window.show()
    window.start()
    drop(window, [file])
    start_batch(qtbot, window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)
    [upload_id] = [status.id for status in window.model.statuses()]
    return upload_id


def test_a_dropped_file_uploads_through_the_engine_process(
    qtbot: Any, local_stack: LocalStack, stack_token: str, tmp_path: Path
) -> None:
    file = tmp_path / "photo.bin"
    file.write_bytes(os.urandom(300_000))
    settings = AppSettings(key_template="wired/{filename}", last_metadata=METADATA, notify_when_done=False)
    api = LocalApi(local_stack.api_url, local_stack.cdn_base_url, stack_token)

    with wired_app(local=api, settings=settings, log_folder=tmp_path / "logs") as wired:
        window = wired.window
        assert wired.engine.pid != os.getpid()
        upload_id = upload_one(qtbot, window, file)
        qtbot.waitUntil(lambda: window.model.status(upload_id).state is UploadState.DONE, timeout=30_000)
        done = window.model.status(upload_id)

    assert done.key == "wired/photo.bin"
    assert done.url
    assert requests.get(done.url, timeout=10).content == file.read_bytes()
    assert (tmp_path / "logs" / "s3up-engine.log").exists()


def sending_for_seconds() -> AppSettings:
    """At 4 MiB/s in parts of 5 MiB, a 24 MiB file takes about 6 s: the engine dies while it sends."""
    return AppSettings(
        key_template="wired/{filename}",
        last_metadata=METADATA,
        notify_when_done=False,
        bandwidth_limit_mib=4.0,
        part_size_mib=5,
    )


def kill(pid: int | None) -> None:
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def sending_a_big_file(
    qtbot: Any, local_stack: LocalStack, stack_token: str, file: Path
) -> Iterator[tuple[WiredApp, int]]:
    """The wired app sending a 24 MiB `file` for several seconds, its first part sent: (app, upload id)."""
    file.write_bytes(os.urandom(24 * 1024 * 1024))
    api = LocalApi(local_stack.api_url, local_stack.cdn_base_url, stack_token)
    with wired_app(local=api, settings=sending_for_seconds(), log_folder=file.parent / "logs") as wired:
        window = wired.window
        upload_id = upload_one(qtbot, window, file)
        qtbot.waitUntil(lambda: window.model.status(upload_id).parts_done >= 1, timeout=20_000)
        yield wired, upload_id


def test_a_killed_engine_is_replaced_and_the_running_upload_goes_on(
    qtbot: Any, local_stack: LocalStack, stack_token: str, tmp_path: Path
) -> None:
    file = tmp_path / "big.bin"
    with sending_a_big_file(qtbot, local_stack, stack_token, file) as (wired, upload_id):
        window = wired.window
        first_pid = wired.engine.pid

        kill(first_pid)

        qtbot.waitUntil(lambda: "stopped unexpectedly" in window.statusBar().currentMessage(), timeout=20_000)
        assert wired.engine.pid != first_pid
        qtbot.waitUntil(lambda: window.model.status(upload_id).state is UploadState.DONE, timeout=60_000)
        done = window.model.status(upload_id)

    assert done.url
    assert requests.get(done.url, timeout=10).content == file.read_bytes()


def test_the_window_says_so_when_the_engine_keeps_dying(qtbot: Any, tmp_path: Path) -> None:
    with wired_app(settings=AppSettings(), log_folder=tmp_path / "logs") as wired:
        window = wired.window
        window.show()
        window.start()

        def box() -> QMessageBox | None:
            return window.findChild(QMessageBox, "engine-stopped")

        for _death in range(MAX_RESTARTS):
            with qtbot.waitSignal(wired.bridge.engine_restarted, timeout=20_000):
                kill(wired.engine.pid)
            assert box() is None
        kill(wired.engine.pid)

        qtbot.waitUntil(lambda: box() is not None and box().isVisible(), timeout=10_000)
        assert "several times in a row" in box().text()
        assert "start it again" in window.statusBar().currentMessage()


def test_a_pause_given_while_a_killed_engine_is_replaced_is_kept(
    qtbot: Any, local_stack: LocalStack, stack_token: str, tmp_path: Path, monkeypatch: Any
) -> None:
    with sending_a_big_file(qtbot, local_stack, stack_token, tmp_path / "held.bin") as (wired, upload_id):
        window = wired.window
        sent: list[Any] = []
        bridge_send = wired.bridge.send
        monkeypatch.setattr(
            wired.bridge, "send", lambda command: (sent.append(command), bridge_send(command))
        )

        with qtbot.waitSignal(wired.bridge.engine_restarted, timeout=20_000):
            kill(wired.engine.pid)
            window.view.selectRow(0)
            window.actions.pause.trigger()  # the row still reads Uploading: the engine died mid-send

        qtbot.waitUntil(lambda: window.model.status(upload_id).state is UploadState.PAUSED, timeout=10_000)
        assert [(command.action, command.upload_ids) for command in sent] == [(Action.PAUSE, (upload_id,))]
        assert "Continuing" not in window.statusBar().currentMessage()


def test_a_folder_being_added_when_the_engine_dies_is_added_once_and_whole(
    qtbot: Any,
    local_stack: LocalStack,
    stack_token: str,
    tmp_path: Path,
    monkeypatch: Any,
    caplog: Any,
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    count = 1600  # added a thousand at a time: the engine dies while it records the last 600
    for n in range(count):
        (folder / f"scan-{n:04}.txt").write_bytes(b"%d" % n)
    settings = AppSettings(key_template="wired/{filename}", last_metadata=METADATA, notify_when_done=False)
    api = LocalApi(local_stack.api_url, local_stack.cdn_base_url, stack_token)

    with wired_app(local=api, settings=settings, log_folder=tmp_path / "logs") as wired:
        window = wired.window
        last_of_the_first_thousand: list[int] = []
        engine_add_many = wired.engine.add_many

        def add_many(requests: list[Any]) -> Any:
            result = engine_add_many(requests)
            if not last_of_the_first_thousand:
                last_of_the_first_thousand.append(max(status.id for status in result.added))
            return result

        def kill_once_the_rest_is_being_recorded(status: UploadStatus) -> None:
            # The engine records files in groups of 100 (about 60 ms each); the statuses of the first group
            # come within 50 ms: it dies with hundreds still to record.
            if (
                last_of_the_first_thousand
                and status.id > last_of_the_first_thousand[0]
                and not killed.is_set()
            ):
                killed.set()
                kill(wired.engine.pid)

        killed = threading.Event()
        monkeypatch.setattr(wired.engine, "add_many", add_many)
        wired.engine.subscribe(kill_once_the_rest_is_being_recorded)
        window.show()
        window.start()
        drop(window, [folder])
        qtbot.waitUntil(
            lambda: (dialog := window.adder.metadata_dialog) is not None and dialog.start_button.isEnabled(),
            timeout=20_000,
        )
        start_batch(qtbot, window)

        def all_done() -> bool:
            statuses = window.model.statuses()
            return len(statuses) >= count and all(s.state is UploadState.DONE for s in statuses)

        with contextlib.suppress(WaitTimeout):  # a bound on a loaded machine; the asserts say what is left
            qtbot.waitUntil(all_done, timeout=180_000)
        statuses = window.model.statuses()
        states = Counter(status.state.value for status in statuses)

    assert killed.is_set()
    assert states == {"done": count}
    assert sorted(s.key for s in statuses) == [f"wired/scan-{n:04}.txt" for n in range(count)]
    assert any("The engine died while adding files" in r.getMessage() for r in caplog.records)
