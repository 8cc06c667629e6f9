"""The window's commands, settings, sign-out, the once-only sign-in prompt and the remembered layout,
on a fake manager."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox

from app.core.credentials import SERVICE
from app.core.models import UploadState
from app.core.settings import AppSettings
from app.gui.settings_dialog import SettingsDialog
from app.gui.upload_table_model import Column
from tests.gui.conftest import API_URL
from tests.gui.fakes import FakeManager
from tests.gui.test_upload_table_model import status


def test_row_commands_reach_the_manager_and_apply_to_the_selection(qtbot, make_window) -> None:
    manager = FakeManager(restored=[status(1, state=UploadState.PAUSED), status(2, state=UploadState.PAUSED)])
    window = make_window(manager)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=5000)
    window.view.selectRow(0)
    assert window.actions.resume.isEnabled()
    assert not window.actions.pause.isEnabled()
    assert not window.actions.copy_link.isEnabled()
    window.actions.resume.trigger()
    qtbot.waitUntil(lambda: window.model.status_at(0).state is UploadState.QUEUED, timeout=3000)
    assert window.actions.pause.isEnabled()  # the selection's state changed: so did the actions
    window.actions.cancel.trigger()
    qtbot.waitUntil(lambda: window.model.status_at(0).state is UploadState.CANCELLED, timeout=3000)
    assert [call for call in manager.calls if call[0] != "add"] == [("resume", 1), ("cancel", 1)]


def test_remove_asks_before_cancelling_unfinished_uploads(qtbot, make_window, monkeypatch) -> None:
    manager = FakeManager(
        restored=[status(1, state=UploadState.PAUSED)],
        history=[status(2, state=UploadState.DONE, url="https://cdn.example/a")],
    )
    window = make_window(manager)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=5000)
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *args: answers.pop(0))
    window.view.selectAll()
    window.actions.remove.trigger()
    assert window.model.rowCount() == 2  # "No": nothing happened
    window.actions.remove.trigger()
    assert window.model.rowCount() == 0
    qtbot.waitUntil(lambda: ("remove", 2) in manager.calls, timeout=3000)
    manager.push(status(1, state=UploadState.CANCELLED))  # a late event for a removed row
    qtbot.wait(200)
    assert window.model.rowCount() == 0


def test_copy_link_and_the_details_pane(qtbot, make_window) -> None:
    manager = FakeManager(
        history=[status(5, state=UploadState.DONE, bytes_done=100, url="https://cdn.example/k")]
    )
    window = make_window(manager)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    assert not window.details.content.isVisible()  # nothing selected yet
    window.view.selectRow(0)
    assert window.details.link_edit.text() == "https://cdn.example/k"
    assert window.details.name_label.text() == "file-5.bin"
    window.actions.copy_link.trigger()
    assert QGuiApplication.clipboard().text() == "https://cdn.example/k"
    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(window.details.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "https://cdn.example/k"


def test_a_401_brings_up_the_sign_in_dialog_once(qtbot, make_window) -> None:
    manager = FakeManager(
        restored=[status(1, state=UploadState.UPLOADING), status(2, state=UploadState.UPLOADING)]
    )
    window = make_window(manager)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=5000)
    manager.set_state(1, UploadState.NEEDS_SIGN_IN, message="The API rejected the token.")
    qtbot.waitUntil(lambda: window.sign_in_dialog is not None, timeout=3000)
    first = window.sign_in_dialog
    assert "Sign in again" in first.intro.text()
    manager.set_state(2, UploadState.NEEDS_SIGN_IN)
    qtbot.wait(250)
    assert window.sign_in_dialog is first
    assert window.model.index(1, Column.STATE).data() == "Needs sign-in"


def test_settings_are_saved_and_given_to_the_engine(qtbot, make_window, fake_manager, s3up_home) -> None:
    window = make_window(fake_manager)
    window.actions.settings.trigger()
    dialog = window.findChild(SettingsDialog)
    dialog.connections.setValue(16)
    dialog.bandwidth.setValue(40)
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: any(name == "update_settings" for name, _ in fake_manager.calls), timeout=3000)
    transfer = next(value for name, value in fake_manager.calls if name == "update_settings")
    assert transfer.max_connections == 16
    assert transfer.bandwidth_limit == 40 * 1024 * 1024
    saved = json.loads((s3up_home / "config" / "settings.json").read_text())
    assert saved["max_connections"] == 16
    assert saved["api_url"] == API_URL


def test_saving_settings_unchanged_leaves_the_engine_adaptive(qtbot, make_window, fake_manager) -> None:
    window = make_window(fake_manager)
    window.actions.settings.trigger()
    window.findChild(SettingsDialog).buttons.accepted.emit()
    qtbot.waitUntil(lambda: any(name == "update_settings" for name, _ in fake_manager.calls), timeout=3000)
    transfer = next(value for name, value in fake_manager.calls if name == "update_settings")
    assert (transfer.max_connections, transfer.per_file_connections, transfer.part_size) == (None, None, None)


def test_sign_out_deletes_the_token(qtbot, make_window, fake_manager, credentials, memory_keyring) -> None:
    credentials.set(API_URL, "stored-token")
    window = make_window(fake_manager, signed_in=False)
    qtbot.waitUntil(lambda: window.session.signed_in, timeout=3000)
    assert window.actions.sign_out.isVisible()
    window.actions.sign_out.trigger()
    qtbot.waitUntil(lambda: (SERVICE, API_URL) not in memory_keyring.secrets, timeout=3000)
    assert window.actions.sign_in.isVisible()
    assert "Not signed in" in window.api_label.text()


def test_without_a_token_the_sign_in_dialog_comes_up_at_start(qtbot, make_window, fake_manager) -> None:
    window = make_window(fake_manager, signed_in=False, settings=AppSettings())
    qtbot.waitUntil(
        lambda: window.sign_in_dialog is not None and window.sign_in_dialog.isVisible(), timeout=3000
    )


def test_window_size_and_columns_are_remembered(qtbot, make_window, fake_manager) -> None:
    first = make_window(fake_manager)
    first.resize(700, 520)
    first.view.horizontalHeader().resizeSection(0, 333)
    first.close()
    second = make_window(FakeManager())
    assert (second.width(), second.height()) == (700, 520)
    assert second.view.horizontalHeader().sectionSize(0) == 333


def test_a_finished_batch_is_announced(qtbot, make_window, fake_manager, tmp_path) -> None:
    from tests.gui.test_drop import drop, start_batch

    files = [tmp_path / "a.bin", tmp_path / "b.bin"]
    for file in files:
        file.write_bytes(b"data")
    window = make_window(fake_manager)
    drop(window, files)
    start_batch(qtbot, window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=5000)
    fake_manager.set_state(1, UploadState.DONE, bytes_done=4, url="https://cdn.example/a.bin")
    qtbot.wait(150)
    assert window.notifier.last_message is None  # one of two is still going
    fake_manager.set_state(2, UploadState.FAILED, message="The file could not be read.")
    qtbot.waitUntil(lambda: window.notifier.last_message is not None, timeout=3000)
    assert window.notifier.last_message == ("Uploads finished with problems", "1 file uploaded, 1 failed.")


def test_right_clicking_a_row_offers_the_per_upload_commands(qtbot, make_window) -> None:
    manager = FakeManager(restored=[status(1, state=UploadState.PAUSED), status(2, state=UploadState.PAUSED)])
    window = make_window(manager)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=5000)
    menu = window.view.context_menu(window.view.visualRect(window.model.index(1, 0)).center())
    assert window.view.selected_statuses()[0].id == 2  # the row under the pointer got selected
    assert {action.text(): action.isEnabled() for action in menu.actions() if action.text()} == {
        "Pause": False,
        "Resume": True,
        "Retry": False,
        "Overwrite": False,
        "Change Key…": False,
        "Cancel Upload": True,
        "Copy Link": False,
        "Open Link": False,
        "Show in Folder": True,
        "Remove from List": True,
    }


def test_a_large_add_is_listed_a_portion_per_turn_and_never_overwrites_a_newer_row(
    qtbot, make_window, fake_manager
) -> None:
    """10,000 rows inserted at once hold the GUI thread: they are listed LISTED_PER_TURN per turn of the
    event loop; a row the engine has already reported keeps its newer status."""
    from app.gui.bridge import AddOutcome
    from app.gui.file_adder import LISTED_PER_TURN

    window = make_window(fake_manager)
    added = [status(n, state=UploadState.QUEUED) for n in range(1, 1001)]
    newer = status(5, state=UploadState.UPLOADING, bytes_done=1024)
    window.model.update_statuses([newer])  # the engine's report came first
    window.adder.added(AddOutcome(added, [], last=True))
    assert window.model.rowCount() == LISTED_PER_TURN  # the first portion at once, the rest later
    qtbot.waitUntil(lambda: window.model.rowCount() == 1000, timeout=5000)
    assert window.model.status(5) == newer
    assert [window.model.status_at(row).id for row in range(1000)] == list(range(1, 1001))
