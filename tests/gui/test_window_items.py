"""Issue 14's window items on a fake manager: quitting while uploading, the details pane at a narrow
width, the log folder without a file manager, the Remove question, a key that is taken, the status bar,
the window on a small screen, the native file dialog."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRect, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication, QFileDialog

from app.core.errors import UploadError
from app.core.models import UploadRequest, UploadState
from app.gui import main_window
from app.gui.dialogs import ChangeKeyDialog, LocationDialog, refusal_lines, remove_question
from app.gui.upload_table_model import Column
from app.gui.window_state import RESUME_AT_START, fitted_geometry, saved_ids
from tests.gui.fakes import FakeManager
from tests.gui.test_upload_table_model import status

LONG_MESSAGE = (
    "The upload API failed for now (HTTP 503) and gave up after 8 tries over 4 minutes; the network or the "
    "API may be down. Check your connection, then retry."
)


def test_quitting_while_uploading_asks_and_pause_and_quit_resumes_them_next_time(
    qtbot, make_window, monkeypatch
) -> None:
    manager = FakeManager(
        restored=[status(1, state=UploadState.UPLOADING), status(2, state=UploadState.PAUSED)]
    )
    window = make_window(manager)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=5000)
    answers = [False, True]
    asked: list[int] = []
    monkeypatch.setattr(
        main_window, "ask_quit", lambda parent, running: asked.append(running) or answers.pop(0)
    )
    window.actions.quit.trigger()  # Ctrl+Q
    assert window.isVisible(), "Keep Uploading leaves the window open"
    assert ("pause", 1) not in manager.calls
    window.close()
    assert not window.isVisible()
    assert asked == [1, 1]  # one upload was running
    assert ("pause", 1) in manager.calls  # paused before the window went
    assert saved_ids(window._window_state, RESUME_AT_START) == [1]

    # Next start: the upload that was running continues by itself; the one the user paused waits.
    again = FakeManager(restored=[status(1, state=UploadState.PAUSED), status(2, state=UploadState.PAUSED)])
    second = make_window(again)
    qtbot.waitUntil(lambda: ("resume", 1) in again.calls, timeout=5000)
    assert ("resume", 2) not in again.calls
    assert saved_ids(second._window_state, RESUME_AT_START) == []


def test_nothing_running_quits_without_a_question(qtbot, make_window, monkeypatch) -> None:
    window = make_window(FakeManager(restored=[status(1, state=UploadState.PAUSED)]))
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    monkeypatch.setattr(main_window, "ask_quit", lambda *args: pytest.fail("asked without a reason"))
    window.close()
    assert not window.isVisible()


def test_the_details_pane_never_clips_a_two_line_message_at_a_narrow_width(qtbot, make_window) -> None:
    manager = FakeManager(restored=[status(1, state=UploadState.FAILED, message=LONG_MESSAGE, parts_done=3)])
    window = make_window(manager)
    window.resize(560, 520)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    window.view.selectRow(0)
    details = window.details
    qtbot.waitUntil(lambda: details.message_label.isVisible(), timeout=2000)
    label = details.message_label
    assert label.height() >= label.heightForWidth(label.width()) > label.fontMetrics().lineSpacing() * 1.5
    for widget in (details.copy_button, details.open_button, details.link_edit):
        bottom = widget.mapTo(details, widget.rect().bottomLeft()).y()
        assert bottom <= details.height(), f"{widget.objectName() or widget.text()} is cut off"
        assert widget.height() >= widget.minimumSizeHint().height(), "squeezed to less than it needs"
    for text in (details.key_label, details.api_label, details.path_label, details.state_label):
        assert text.height() >= text.heightForWidth(text.width())
    assert "Choose Retry to continue where it stopped: the 3 parts already sent are kept." in label.text()


def test_open_log_folder_without_a_file_manager_shows_the_path_to_copy(
    qtbot, make_window, fake_manager, monkeypatch
) -> None:
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) and False)
    window = make_window(fake_manager)
    window.actions.open_log_folder.trigger()
    assert opened[0].toLocalFile() == str(window.session.log_folder)
    dialog = window.findChild(LocationDialog)
    assert dialog is not None
    assert dialog.isVisible()
    assert dialog.location_edit.text() == str(window.session.log_folder)
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == str(window.session.log_folder)


def test_remove_mentions_deleted_parts_only_when_parts_were_sent() -> None:
    assert remove_question([status(1, state=UploadState.DONE)]) is None
    fresh = remove_question([status(1, state=UploadState.PAUSED)])
    assert fresh == "1 upload is not finished and will be cancelled. Remove anyway?"
    sent = remove_question([status(1, state=UploadState.PAUSED, parts_done=4), status(2)])
    assert sent == (
        "2 uploads are not finished. Removing cancels them and deletes the 4 parts already sent. "
        "Remove anyway?"
    )


def test_a_taken_key_offers_overwrite_and_change_key_and_no_retry(qtbot, make_window) -> None:
    message = (
        "An object already exists at “file-1.bin”. Choose to overwrite it, or give another key, and the "
        'upload goes on. The server said: choose another key or send "overwrite": true'
    )
    manager = FakeManager(restored=[status(1, state=UploadState.CONFLICT, message=message)])
    window = make_window(manager)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    assert window.model.index(0, Column.STATE).data() == "Key exists"
    window.view.selectRow(0)
    details = window.details
    text = details.message_label.text()
    assert "overwrite" not in text.split("Choose Overwrite")[0].lower()  # no API internals
    assert '"overwrite": true' not in text
    assert "parts" not in text  # nothing was sent, so nothing is said to be kept
    assert text == (
        "An object already exists at the key “file-1.bin”. Choose Overwrite to replace that object, or "
        "Change Key… to upload the file under another key."
    )
    assert not details.retry_button.isVisibleTo(details)
    assert not window.actions.retry.isEnabled()
    assert details.overwrite_button.isVisibleTo(details)
    assert details.change_key_button.isVisibleTo(details)
    menu = window.view.context_menu(window.view.visualRect(window.model.index(0, 0)).center())
    offered = {a.text() for a in menu.actions() if a.isVisible() and a.isEnabled()}
    assert {"Overwrite", "Change Key…"} <= offered
    assert "Retry" not in offered

    details.overwrite_button.click()
    qtbot.waitUntil(lambda: ("resolve_conflict", (1, True, None)) in manager.calls, timeout=3000)

    manager.set_state(1, UploadState.CONFLICT, message=message)
    qtbot.waitUntil(lambda: window.model.status_at(0).state is UploadState.CONFLICT, timeout=3000)
    window.actions.change_key.trigger()
    dialog = window.findChild(ChangeKeyDialog)
    assert dialog.key_edit.text() == "file-1-2.bin"
    dialog.key_edit.setText("file-1.bin")
    assert not dialog.ok_button.isEnabled()  # the taken key again
    dialog.key_edit.setText("renamed/file-1.bin")
    dialog.ok_button.click()
    qtbot.waitUntil(
        lambda: ("resolve_conflict", (1, False, "renamed/file-1.bin")) in manager.calls, timeout=3000
    )


def test_from_last_time_leaves_the_status_bar_once_they_are_resumed(qtbot, make_window) -> None:
    manager = FakeManager(restored=[status(1, state=UploadState.PAUSED), status(2, state=UploadState.PAUSED)])
    window = make_window(manager)
    qtbot.waitUntil(lambda: "from last time" in window.statusBar().currentMessage(), timeout=5000)
    assert window.totals_label.text().startswith("2 paused  ·  0 bytes of 200 MiB sent")
    window.view.selectAll()
    window.actions.resume.trigger()
    qtbot.waitUntil(lambda: "from last time" not in window.statusBar().currentMessage(), timeout=3000)
    assert window.totals_label.text().startswith("2 uploading")


def test_the_window_fits_a_small_screen() -> None:
    available = QRect(0, 0, 1600, 1000)
    frame, inner = QRect(200, 100, 2180, 1400), QRect(210, 130, 2160, 1360)  # 200 %, saved at 100 %
    fitted = fitted_geometry(frame, inner, available)
    assert fitted.width() <= 1600 - 20
    assert fitted.height() <= 1000 - 40
    assert fitted.left() >= 10
    assert fitted.top() >= 30
    assert fitted_geometry(QRect(0, 0, 800, 600), QRect(0, 0, 800, 600), available) == QRect(0, 0, 800, 600)


def test_a_saved_window_larger_than_the_screen_is_shrunk_to_it(qtbot, make_window, fake_manager) -> None:
    first = make_window(fake_manager)
    screen = first.screen().availableGeometry()
    first.resize(screen.width() + 900, screen.height() + 700)
    first.close()
    second = make_window(FakeManager())
    assert second.frameGeometry().width() <= screen.width()
    assert second.frameGeometry().height() <= screen.height()


def test_add_files_uses_the_platforms_own_dialog(qtbot, make_window, fake_manager, monkeypatch) -> None:
    seen: dict[str, object] = {}

    def fake_open(parent, caption, directory, *args, **kwargs):
        seen.update(args=args, kwargs=kwargs)
        return [], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", fake_open)
    window = make_window(fake_manager)
    window.actions.add_files.trigger()
    options = seen["kwargs"].get("options", QFileDialog.Option(0))
    assert not options & QFileDialog.Option.DontUseNativeDialog
    assert not QApplication.testAttribute(main_window.Qt.ApplicationAttribute.AA_DontUseNativeDialogs)


def test_rows_show_key_and_api_and_clear_finished_keeps_the_rest(qtbot, make_window) -> None:
    manager = FakeManager(
        restored=[status(1, state=UploadState.PAUSED)],
        history=[
            status(2, state=UploadState.DONE, url="https://cdn/2"),
            status(3, state=UploadState.CANCELLED),
        ],
    )
    window = make_window(manager)
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=5000)
    assert [window.model.status_at(r).id for r in range(3)] == [1, 2, 3]  # in the order they were added
    assert window.model.index(1, Column.KEY).data() == "file-2.bin"
    assert window.view.horizontalHeader().isSectionHidden(Column.API)  # shown from the header's menu
    header_menu = window.view.column_menu()
    api = next(a for a in header_menu.actions() if a.text() == "API")
    api.trigger()
    assert not window.view.horizontalHeader().isSectionHidden(Column.API)
    window.view.selectRow(0)
    assert window.details.api_label.text() == "https://api.example.test/prod"
    assert window.actions.clear_finished.isEnabled()
    window.actions.clear_finished.trigger()
    assert [window.model.status_at(r).id for r in range(window.model.rowCount())] == [1]
    qtbot.waitUntil(lambda: ("remove", 3) in manager.calls, timeout=3000)
    assert ("remove", 2) in manager.calls


def test_files_not_added_are_listed_by_reason() -> None:
    def refused(name: str, reason: str) -> tuple[UploadRequest, UploadError]:
        return UploadRequest(path=Path("/data") / name, api_url="https://a/prod", key=name), UploadError(
            reason
        )

    stopped = "The upload engine stopped unexpectedly, several times in a row."
    lines = refusal_lines(
        [
            refused("locked.bin", "locked.bin cannot be read (permission denied)."),
            *(refused(f"scan-{n}.tif", stopped) for n in range(7)),
        ]
    )

    assert lines == [
        "locked.bin: locked.bin cannot be read (permission denied).",
        f"{stopped} (7 files: scan-0.tif, scan-1.tif, scan-2.tif, scan-3.tif, scan-4.tif, …)",
    ]
