"""Dropping files and folders on the window adds rows, after the metadata dialog."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core import folders
from app.core.models import UploadState
from app.gui.batch_files_model import BatchColumn
from app.gui.main_window import MainWindow
from app.gui.upload_table_model import Column


def drop(window: MainWindow, paths: list[Path]) -> None:
    """Send the drag-enter and drop events a file manager would send, at the middle of the window."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    position = QPointF(window.width() / 2, window.height() / 2)
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(  # Qt 6.11 takes a whole-pixel position here, a QPointF for the drop
        position.toPoint(), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    assert window.view.drop_active
    event = QDropEvent(position, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)
    assert event.isAccepted()


def start_batch(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(
        lambda: (dialog := window.adder.metadata_dialog) is not None and dialog.isVisible(), timeout=5000
    )
    dialog = window.adder.metadata_dialog
    assert dialog.start_button.isEnabled()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)


def test_dropping_files_adds_a_row_per_file(qtbot, make_window, fake_manager, tmp_path) -> None:
    files = []
    for name, size in (("a.bin", 10), ("b.mov", 2048)):
        files.append(tmp_path / name)
        files[-1].write_bytes(b"x" * size)
    window = make_window(fake_manager)
    drop(window, files)
    assert not window.view.drop_active
    start_batch(qtbot, window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=5000)
    assert [window.model.index(r, Column.NAME).data() for r in range(2)] == ["a.bin", "b.mov"]
    assert [r.key for r in fake_manager.requests] == ["a.bin", "b.mov"]
    assert fake_manager.requests[0].metadata == {"organizationId": "org-7", "objectRecordId": "rec-42"}
    assert window.details.isVisible()


def test_dropping_a_folder_keeps_the_relative_paths_in_the_keys(
    qtbot, make_window, fake_manager, tmp_path
) -> None:
    folder = tmp_path / "shoot"
    (folder / "day1").mkdir(parents=True)
    (folder / "day2").mkdir()
    (folder / "day1" / "img.raw").write_bytes(b"1")
    (folder / "day2" / "img.raw").write_bytes(b"22")
    (folder / ".DS_Store").write_bytes(b"junk")
    window = make_window(fake_manager)
    drop(window, [folder])
    qtbot.waitUntil(lambda: window.adder.metadata_dialog is not None, timeout=5000)
    dialog = window.adder.metadata_dialog
    # The default template {filename} would give both files the same key: Start is blocked until fixed.
    assert not dialog.start_button.isEnabled()
    assert "{relpath}" in dialog.key_note.text()
    dialog.template_edit.setText("uploads/{relpath}")
    dialog.validate()
    start_batch(qtbot, window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=5000)
    assert sorted(r.key for r in fake_manager.requests) == [
        "uploads/shoot/day1/img.raw",
        "uploads/shoot/day2/img.raw",
    ]
    assert window.session.settings.key_template == "uploads/{relpath}"  # remembered for next time


def test_replacing_existing_objects_is_never_carried_over_to_the_next_batch(
    qtbot, make_window, fake_manager, tmp_path
) -> None:
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(b"1")
    second.write_bytes(b"2")
    window = make_window(fake_manager)
    drop(window, [first])
    qtbot.waitUntil(lambda: window.adder.metadata_dialog is not None, timeout=5000)
    window.adder.metadata_dialog.overwrite_box.setChecked(True)
    start_batch(qtbot, window)
    qtbot.waitUntil(lambda: len(fake_manager.requests) == 1, timeout=5000)
    assert fake_manager.requests[0].overwrite
    qtbot.waitUntil(lambda: window.adder.metadata_dialog is None, timeout=5000)
    drop(window, [second])
    qtbot.waitUntil(lambda: window.adder.metadata_dialog is not None, timeout=5000)
    assert not window.adder.metadata_dialog.overwrite_box.isChecked()
    start_batch(qtbot, window)
    qtbot.waitUntil(lambda: len(fake_manager.requests) == 2, timeout=5000)
    assert not fake_manager.requests[1].overwrite


def test_a_refused_file_is_reported_and_the_others_still_start(
    qtbot, make_window, fake_manager, tmp_path, monkeypatch
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(
        QMessageBox, "warning", lambda parent, title, text: warnings.append(f"{title}: {text}")
    )
    good, bad = tmp_path / "good.bin", tmp_path / "bad.bin"
    good.write_bytes(b"1")
    bad.write_bytes(b"2")
    fake_manager.refuse.add("bad.bin")
    window = make_window(fake_manager)
    drop(window, [good, bad])
    start_batch(qtbot, window)
    qtbot.waitUntil(lambda: bool(warnings), timeout=5000)
    assert window.model.rowCount() == 1
    assert "bad.bin: bad.bin cannot be read (permission denied)." in warnings[0]


def test_unfinished_uploads_are_listed_paused_at_start(qtbot, make_window, tmp_path) -> None:
    from tests.gui.fakes import FakeManager
    from tests.gui.test_upload_table_model import status

    restored = [
        status(7, state=UploadState.PAUSED, bytes_done=30 * 1024 * 1024),
        status(
            8,
            state=UploadState.FILE_CHANGED,
            message="The file /data/file-8.bin was modified since the upload began; remove this upload and "
            "add the file again to upload the new version.",
        ),
    ]
    manager = FakeManager(restored=restored, history=[status(3, state=UploadState.DONE, url="https://cdn/x")])
    window = make_window(manager)
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=5000)
    assert window.model.index(1, Column.STATE).data() == "Paused"
    assert window.model.index(1, Column.PROGRESS).data() == "30 %"
    assert window.model.index(2, Column.STATE).data() == "File changed"
    assert "unfinished upload" in window.statusBar().currentMessage()
    window.view.selectRow(2)
    assert window.details.message_label.text() == (
        "The file /data/file-8.bin was modified since the upload began; remove this upload and add the file "
        "again to upload the new version."
    )
    assert window.actions.retry.isEnabled()
    assert window.actions.resume_all.isEnabled()
    qtbot.mouseClick(window.toolbar.widgetForAction(window.actions.resume_all), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ("resume_all", None) in manager.calls, timeout=3000)


def capture_warnings(monkeypatch) -> list[tuple[str, str]]:
    warnings: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append((title, text)))
    return warnings


def batch_names(window: MainWindow) -> list[str]:
    model = window.adder.metadata_dialog.files_model
    return [model.index(row, BatchColumn.FILE).data() for row in range(model.rowCount())]


def test_a_link_loop_and_an_unreadable_folder_are_told_in_sentences_and_the_other_files_are_offered(
    qtbot, make_window, fake_manager, tmp_path, monkeypatch
) -> None:
    """The app walks folders with the core's walker (the command line's): each problem is a sentence
    naming the path, and the files that can be uploaded are still offered."""
    folder = tmp_path / "shoot"
    (folder / "day1").mkdir(parents=True)
    (folder / "day1" / "a.raw").write_bytes(b"1")
    (folder / "day1" / "back").symlink_to(folder)  # a loop
    (folder / "locked").mkdir()
    (folder / "locked" / "secret.raw").write_bytes(b"2")
    real_scandir = os.scandir

    def scandir(path):  # the tests run as root, for whom no mode makes a folder unreadable
        if Path(path).name == "locked":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(folders.os, "scandir", scandir)
    warnings = capture_warnings(monkeypatch)
    window = make_window(fake_manager)
    drop(window, [folder])
    qtbot.waitUntil(lambda: window.adder.metadata_dialog is not None, timeout=5000)
    ((title, text),) = warnings
    assert title == "Some files were skipped"
    assert f"{folder / 'day1' / 'back'}: a symbolic link loop (it leads back to {folder}" in text
    assert f"{folder / 'locked'}: the folder cannot be read (permission denied)." in text
    assert batch_names(window) == ["shoot/day1/a.raw"]


def test_junk_is_left_out_and_a_file_given_twice_is_offered_once(
    qtbot, make_window, fake_manager, tmp_path, monkeypatch
) -> None:
    folder = tmp_path / "album"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.jpg", ".DS_Store", "._b.jpg", "Thumbs.db", ".env", "sub/a.jpg"):
        (folder / name).write_bytes(b"x")
    (folder / ".Trashes").mkdir()
    (folder / ".Trashes" / "old.jpg").write_bytes(b"x")
    warnings = capture_warnings(monkeypatch)
    window = make_window(fake_manager)
    drop(window, [folder / "b.jpg", folder, folder / "sub" / "a.jpg"])
    qtbot.waitUntil(lambda: window.adder.metadata_dialog is not None, timeout=5000)
    assert warnings == []
    # In the order given, each file once (at its first place); hidden files that are not junk stay.
    assert batch_names(window) == ["b.jpg", "album/.env", "album/sub/a.jpg"]


def test_a_folder_with_nothing_to_upload_says_so_and_opens_no_dialog(
    qtbot, make_window, fake_manager, tmp_path, monkeypatch
) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / ".DS_Store").write_bytes(b"junk")
    warnings = capture_warnings(monkeypatch)
    window = make_window(fake_manager)
    drop(window, [folder, tmp_path / "gone.bin"])
    qtbot.waitUntil(lambda: bool(warnings), timeout=5000)
    ((title, text),) = warnings
    assert title == "Nothing to upload"
    assert text == (
        f"{folder}: the folder has no files to upload.\n\n{tmp_path / 'gone.bin'}: no such file or folder."
    )
    assert window.adder.metadata_dialog is None
