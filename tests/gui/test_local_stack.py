"""End to end through the real manager and the local stack: drop → upload → link; pause/resume from
the buttons; a revoked token → sign-in → the uploads go on; unfinished uploads listed at start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from PySide6.QtCore import Qt

from app.core.manager import UploadManager
from app.core.models import MIB, TransferSettings, UploadRequest, UploadState
from app.gui import main_window
from app.gui.main_window import MainWindow
from app.gui.sign_in_dialog import SignInDialog
from app.gui.upload_table_model import Column
from tests.core.adding import add_one
from tests.gui.test_drop import drop, start_batch

pytestmark = pytest.mark.slow


def make_files(folder: Path, sizes: list[int], prefix: str = "file") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, size in enumerate(sizes):
        path = folder / f"{prefix}-{number}.bin"
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def state_of(window: MainWindow, row: int) -> UploadState:
    return window.model.status_at(row).state


def holds_lock(manager: UploadManager, upload_id: int) -> bool:
    """Whether `manager`'s process still works on the upload (it lets the lock go once idle)."""
    return manager._core.locks.holds(upload_id)


def select_row(qtbot, window: MainWindow, row: int) -> None:
    window.view.selectRow(row)
    qtbot.waitUntil(lambda: window.details.current_id() == window.model.status_at(row).id, timeout=2000)


def test_files_upload_to_100_percent_and_their_links_serve_the_same_bytes(
    qtbot, make_window, make_manager, local_stack, stack_token, tmp_path
) -> None:
    files = make_files(tmp_path / "src", [12 * MIB + 123, 3 * MIB, 0])
    window = make_window(
        make_manager(), api_url=local_stack.api_url, cdn_base_url=local_stack.cdn_base_url, token=stack_token
    )
    drop(window, files)
    window_dialog_template = "e2e/{filename}"
    qtbot.waitUntil(lambda: window.adder.metadata_dialog is not None, timeout=5000)
    window.adder.metadata_dialog.template_edit.setText(window_dialog_template)
    window.adder.metadata_dialog.validate()
    start_batch(qtbot, window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=10000)
    qtbot.waitUntil(lambda: all(state_of(window, r) is UploadState.DONE for r in range(3)), timeout=60000)

    for row, path in enumerate(files):
        assert window.model.index(row, Column.PROGRESS).data() == "100 %"
        link = window.model.index(row, Column.LINK).data()
        assert link.endswith(f"/e2e/{path.name}")
        select_row(qtbot, window, row)
        assert window.details.link_edit.text() == link
        assert window.details.copy_button.isEnabled()
        answer = requests.get(link, timeout=30)
        assert answer.status_code == 200
        assert answer.content == path.read_bytes()
    qtbot.waitUntil(lambda: window.notifier.last_message is not None, timeout=5000)
    assert window.notifier.last_message[1] == "3 files uploaded."

    qtbot.mouseClick(window.details.copy_button, Qt.MouseButton.LeftButton)
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == window.details.link_edit.text()


def test_pause_and_resume_from_the_buttons(
    qtbot, make_window, make_manager, local_stack, stack_token, tmp_path
):
    (path,) = make_files(tmp_path / "src", [24 * MIB], prefix="pause")
    slow = TransferSettings(part_size=5 * MIB, bandwidth_limit=6 * MIB)
    window = make_window(
        make_manager(slow),
        api_url=local_stack.api_url,
        cdn_base_url=local_stack.cdn_base_url,
        token=stack_token,
    )
    drop(window, [path])
    start_batch(qtbot, window)
    qtbot.waitUntil(
        lambda: window.model.rowCount() == 1 and state_of(window, 0) is UploadState.UPLOADING, timeout=10000
    )
    shown: list[str] = []  # every percentage the row showed, in order
    window.model.dataChanged.connect(lambda *_: shown.append(window.model.index(0, Column.PROGRESS).data()))
    select_row(qtbot, window, 0)
    qtbot.waitUntil(lambda: window.model.status_at(0).bytes_done > 0, timeout=20000)
    qtbot.waitUntil(lambda: window.details.pause_button.isVisible(), timeout=2000)
    qtbot.mouseClick(window.details.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state_of(window, 0) is UploadState.PAUSED, timeout=5000)
    upload_id = window.model.status_at(0).id
    manager = window.bridge._manager
    # The engine lets the upload go once no part is in flight: from then on nothing can move.
    qtbot.waitUntil(lambda: not holds_lock(manager, upload_id), timeout=10000)
    with qtbot.waitSignal(window.bridge.statuses_changed, timeout=5000, raising=False):
        pass  # the last status the engine sent on pausing has reached the window
    paused_at = window.model.status_at(0).bytes_done
    assert 0 < paused_at < path.stat().st_size
    assert manager.status(upload_id).bytes_done <= paused_at  # the row shows its high-water mark
    assert window.details.resume_button.isVisible()
    qtbot.mouseClick(window.details.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state_of(window, 0) is UploadState.DONE, timeout=60000)
    assert requests.get(window.model.status_at(0).url, timeout=30).content == path.read_bytes()
    percents = [int(text.rstrip(" %")) for text in shown if text]
    assert percents == sorted(percents), f"progress went backwards: {percents}"  # issue 14 item 2
    assert percents[-1] == 100


def test_a_revoked_token_asks_to_sign_in_once_and_the_uploads_go_on(
    qtbot, make_window, make_manager, local_stack, stack_token, tmp_path, memory_keyring, monkeypatch
) -> None:
    opened: list[SignInDialog] = []

    class CountedSignInDialog(SignInDialog):
        def open(self) -> None:
            opened.append(self)
            super().open()

    monkeypatch.setattr(main_window, "SignInDialog", CountedSignInDialog)
    files = make_files(tmp_path / "src", [16 * MIB, 16 * MIB], prefix="revoked")
    slow = TransferSettings(
        part_size=5 * MIB, per_file_connections=1, max_connections=2, bandwidth_limit=6 * MIB
    )
    window = make_window(
        make_manager(slow),
        api_url=local_stack.api_url,
        cdn_base_url=local_stack.cdn_base_url,
        token=stack_token,
    )
    drop(window, files)
    start_batch(qtbot, window)
    qtbot.waitUntil(
        lambda: window.model.rowCount() == 2 and state_of(window, 0) is UploadState.UPLOADING, timeout=10000
    )
    local_stack.revoke_token(stack_token)

    qtbot.waitUntil(
        lambda: window.sign_in_dialog is not None and window.sign_in_dialog.isVisible(), timeout=30000
    )
    qtbot.waitUntil(
        lambda: any(state_of(window, r) is UploadState.NEEDS_SIGN_IN for r in range(2)), timeout=30000
    )
    dialog = window.sign_in_dialog
    assert dialog.api_url_edit.text() == local_stack.api_url
    assert "Needs sign-in" in {window.model.index(r, Column.STATE).data() for r in range(2)}

    new_token = local_stack.issue_token(principal="tester", organization_id="org-7")
    dialog.token_edit.setText(new_token)
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.sign_in_dialog is None, timeout=15000)
    assert [secret for secret in memory_keyring.secrets.values()] == [new_token]

    qtbot.waitUntil(lambda: all(state_of(window, r) is UploadState.DONE for r in range(2)), timeout=90000)
    assert len(opened) == 1  # two uploads needed sign-in; the dialog came up once
    for row, path in enumerate(files):
        assert requests.get(window.model.status_at(row).url, timeout=30).content == path.read_bytes()


def test_unfinished_uploads_are_shown_paused_at_the_next_start_and_resume(
    qtbot, make_window, make_manager, local_stack, stack_token, tmp_path
) -> None:
    (path,) = make_files(tmp_path / "src", [20 * MIB], prefix="restart")
    slow = TransferSettings(
        part_size=5 * MIB, per_file_connections=1, max_connections=1, bandwidth_limit=8 * MIB
    )
    first_manager = make_manager(slow)
    first = make_window(
        first_manager,
        api_url=local_stack.api_url,
        cdn_base_url=local_stack.cdn_base_url,
        token=stack_token,
    )
    drop(first, [path])
    start_batch(qtbot, first)
    qtbot.waitUntil(
        lambda: first.model.rowCount() == 1 and first.model.status_at(0).parts_done >= 1, timeout=20000
    )
    qtbot.mouseClick(first.toolbar.widgetForAction(first.actions.pause_all), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state_of(first, 0) is UploadState.PAUSED, timeout=5000)
    first.close()
    first.bridge.shutdown()
    first_manager.shutdown()  # as at quit: the journal keeps the paused upload

    second = make_window(
        make_manager(), api_url=local_stack.api_url, cdn_base_url=local_stack.cdn_base_url, token=stack_token
    )
    qtbot.waitUntil(lambda: second.model.rowCount() == 1, timeout=5000)
    restored = second.model.status_at(0)
    assert restored.state is UploadState.PAUSED
    assert 0 < restored.bytes_done < restored.size
    assert second.model.index(0, Column.PROGRESS).data() != "0 %"
    qtbot.mouseClick(second.toolbar.widgetForAction(second.actions.resume_all), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state_of(second, 0) is UploadState.DONE, timeout=60000)
    assert requests.get(second.model.status_at(0).url, timeout=30).content == path.read_bytes()


def test_an_upload_another_process_is_sending_is_shown_and_left_alone(
    qtbot, make_window, make_manager, credentials, local_stack, stack_token, tmp_path
) -> None:
    """The command line (here a second manager on the same journal) is sending a file: the window lists
    it as paused with a sentence, and Resume says why it cannot, until the command lets it go."""
    (path,) = make_files(tmp_path / "src", [20 * MIB], prefix="elsewhere")
    credentials.set(local_stack.api_url, stack_token)
    command = make_manager(TransferSettings(part_size=5 * MIB, bandwidth_limit=6 * MIB))
    upload_ref = add_one(
        command,
        UploadRequest(path=path, api_url=local_stack.api_url, key="gui/elsewhere.bin", metadata={"a": 1}),
    ).id
    qtbot.waitUntil(lambda: command.status(upload_ref).bytes_done > 0, timeout=20000)

    window = make_window(
        make_manager(), api_url=local_stack.api_url, cdn_base_url=local_stack.cdn_base_url, token=stack_token
    )
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    assert state_of(window, 0) is UploadState.PAUSED
    assert window.model.index(0, Column.STATE).data() == "Sent elsewhere"
    assert "being sent by another s3up process" in window.model.status_at(0).message
    select_row(qtbot, window, 0)
    assert "being sent by another s3up process" in window.details.message_label.text()
    assert "Choose Resume" not in window.details.message_label.text()
    window.actions.resume.trigger()
    qtbot.waitUntil(lambda: "being sent by another" in window.statusBar().currentMessage(), timeout=5000)
    assert state_of(window, 0) is UploadState.PAUSED
    assert command.status(upload_ref).state is UploadState.UPLOADING

    command.pause(upload_ref)
    # The command's process lets the upload go once its last part in flight has stopped.
    qtbot.waitUntil(lambda: not holds_lock(command, upload_ref), timeout=20000)
    window.actions.resume.trigger()
    qtbot.waitUntil(lambda: state_of(window, 0) is UploadState.DONE, timeout=60000)
    assert requests.get(window.model.status_at(0).url, timeout=30).content == path.read_bytes()


def test_a_taken_key_is_flagged_before_start_and_overwrite_finishes_the_upload(
    qtbot, make_window, make_manager, local_stack, stack_token, tmp_path
) -> None:
    """Issue 14 item 6 against the real engine and API: the Start dialog marks a key just uploaded; the
    upload that meets it anyway reads "Key exists" with Overwrite (no Retry), and Overwrite finishes it."""
    from app.gui.batch_files_model import BatchColumn

    (first,) = make_files(tmp_path / "one", [3 * MIB], prefix="taken")
    (second,) = make_files(tmp_path / "two", [2 * MIB], prefix="taken")
    window = make_window(
        make_manager(), api_url=local_stack.api_url, cdn_base_url=local_stack.cdn_base_url, token=stack_token
    )

    def upload(path: Path) -> None:
        drop(window, [path])
        qtbot.waitUntil(lambda: window.adder.metadata_dialog is not None, timeout=5000)
        window.adder.metadata_dialog.template_edit.setText("gui/{filename}")
        window.adder.metadata_dialog.validate()

    upload(first)
    start_batch(qtbot, window)
    qtbot.waitUntil(
        lambda: window.model.rowCount() == 1 and state_of(window, 0) is UploadState.DONE, timeout=60000
    )
    qtbot.waitUntil(lambda: window.adder.metadata_dialog is None, timeout=5000)

    upload(second)
    dialog = window.adder.metadata_dialog
    qtbot.waitUntil(lambda: dialog.key_note.kind == "warning", timeout=10000)
    assert dialog.files_model.index(0, BatchColumn.NOTE).data() == "Uploaded just now"
    start_batch(qtbot, window)  # the user goes ahead without ticking "Replace"
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=10000)
    qtbot.waitUntil(lambda: state_of(window, 1) is UploadState.CONFLICT, timeout=30000)
    assert window.model.index(1, Column.STATE).data() == "Key exists"
    select_row(qtbot, window, 1)
    assert not window.details.retry_button.isVisibleTo(window.details)
    assert "Choose Overwrite" in window.details.message_label.text()
    assert '"overwrite"' not in window.details.message_label.text()
    qtbot.mouseClick(window.details.overwrite_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state_of(window, 1) is UploadState.DONE, timeout=60000)
    assert requests.get(window.model.status_at(1).url, timeout=30).content == second.read_bytes()
