"""The panel of every unfinished upload in reach (issue 13 item 4): listed off the GUI thread with a busy
state, empty and existing-deployment states in sentences, Resume / Locate File… / Abort — first on a
fake manager, then end to end against the real local stack with an upload another computer started."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.core.errors import NotThisApiError
from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, TransferSettings, UploadRequest, UploadState, UploadStatus
from app.core.remote import RemoteUnfinished
from app.core.settings import AppSettings
from app.gui.main_window import MainWindow
from app.gui.remote_dialog import EMPTY, NOT_SIGNED_IN, RemoteUploadsDialog
from app.gui.remote_model import RemoteColumn
from backend.local import LocalStack
from tests.core.adding import add_one

pytestmark = pytest.mark.slow

METADATA = {"organizationId": "org-7", "objectRecordId": "rec-42"}


def remote(file_id: str, key: str, **changes: object) -> RemoteUnfinished:
    fields: dict[str, object] = {
        "file_id": file_id,
        "key": key,
        "size": 18 * MIB,
        "started_at": time.time() - 3600,
        "single": False,
        "parts_held": 2,
        "bytes_held": 10 * MIB,
        "local_id": None,
        "local_path": None,
    }
    fields.update(changes)
    return RemoteUnfinished(**fields)  # type: ignore[arg-type]


def open_panel(qtbot, window: MainWindow) -> RemoteUploadsDialog:
    """Open the panel from the toolbar, as a user does, and wait until its first listing arrived."""
    qtbot.mouseClick(window.toolbar.widgetForAction(window.actions.remote_uploads), Qt.MouseButton.LeftButton)
    dialog = window.remote_dialog
    assert dialog is not None
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=30000)
    return dialog


def wait_idle(qtbot, dialog: RemoteUploadsDialog, timeout: int = 30000) -> None:
    qtbot.waitUntil(lambda: not dialog.busy, timeout=timeout)


def cell(dialog: RemoteUploadsDialog, row: int, column: RemoteColumn) -> str:
    return dialog.model.index(row, column).data()


def listed_ids(dialog: RemoteUploadsDialog) -> list[str]:
    return [upload.file_id for upload in dialog.model.uploads()]


def answer_abort_question(monkeypatch, button_text: str) -> list[tuple[str, str]]:
    """Answer the panel's question by clicking `button_text`; returns the questions asked."""
    asked: list[tuple[str, str]] = []

    def exec_(box: QMessageBox) -> int:
        asked.append((box.text(), box.informativeText()))
        (button,) = [b for b in box.buttons() if b.text() == button_text]
        button.click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return asked


# --- on a fake manager -----------------------------------------------------------------------------


def test_the_listing_runs_off_the_gui_thread_with_a_visible_busy_state(
    qtbot, make_window, fake_manager
) -> None:
    fake_manager.remote = [remote("up-1", "surveys/a.mov", started_at=None)]
    fake_manager.remote_gate.clear()
    window = make_window(fake_manager)
    window.actions.remote_uploads.trigger()
    dialog = window.remote_dialog
    assert dialog.busy  # the API has not answered: the window goes on meanwhile
    assert dialog.progress.isVisible()
    assert dialog.progress_label.text() == "Asking the API for your unfinished uploads…"
    assert not dialog.refresh_button.isEnabled()
    assert not dialog.abort_button.isEnabled()
    fake_manager.remote_gate.set()
    wait_idle(qtbot, dialog)
    assert not dialog.progress.isVisible()
    assert listed_ids(dialog) == ["up-1"]
    assert cell(dialog, 0, RemoteColumn.NAME) == "a.mov"
    assert cell(dialog, 0, RemoteColumn.HELD) == "2 parts · 10.0 MiB"
    assert cell(dialog, 0, RemoteColumn.LOCAL) == "—"
    assert dialog.abort_button.isEnabled()
    assert dialog.refresh_button.isEnabled()

    window.actions.remote_uploads.trigger()  # opened again: the same panel comes forward
    assert window.remote_dialog is dialog


def test_no_unfinished_uploads_and_not_signed_in_are_said_in_sentences(qtbot, make_window, fake_manager):
    window = make_window(fake_manager)
    dialog = open_panel(qtbot, window)
    assert dialog.pages.currentWidget() is dialog.placeholder
    assert dialog.placeholder.text() == EMPTY
    assert not dialog.resume_button.isEnabled()

    signed_out = make_window(fake_manager, signed_in=False, settings=AppSettings(), start=False)
    signed_out.show_remote_uploads()
    assert signed_out.remote_dialog.placeholder.text() == NOT_SIGNED_IN


def test_a_failed_listing_says_why_and_refresh_tries_again(qtbot, make_window, fake_manager) -> None:
    from app.core.errors import ApiUnreachableError

    fake_manager.remote_error = ApiUnreachableError("The upload API at api.example.test cannot be reached.")
    window = make_window(fake_manager)
    dialog = open_panel(qtbot, window)
    assert dialog.placeholder.text() == "The upload API at api.example.test cannot be reached."
    assert dialog.note.kind == "error"
    assert "Refresh" in dialog.note.text()
    fake_manager.remote_error = None
    fake_manager.remote = [remote("up-2", "b.bin")]
    qtbot.mouseClick(dialog.refresh_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, dialog)
    assert listed_ids(dialog) == ["up-2"]


def test_abort_asks_first_saying_how_much_is_stored_and_keep_it_does_nothing(
    qtbot, make_window, fake_manager, monkeypatch
) -> None:
    fake_manager.remote = [remote("up-3", "surveys/c.tif", parts_held=12, bytes_held=60 * MIB)]
    window = make_window(fake_manager)
    dialog = open_panel(qtbot, window)
    asked = answer_abort_question(monkeypatch, "Keep It")
    qtbot.mouseClick(dialog.abort_button, Qt.MouseButton.LeftButton)
    assert asked == [
        (
            "Abort the upload of c.tif?",
            "The server deletes the 12 parts (60.0 MiB) it holds of “surveys/c.tif”; this cannot be undone. "
            "The file on your computer is not touched.",
        )
    ]
    assert ("abort_remote", "up-3") not in fake_manager.calls

    answer_abort_question(monkeypatch, "Abort Upload")
    qtbot.mouseClick(dialog.abort_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.note.kind == "success", timeout=5000)
    assert (
        dialog.note.text() == "The upload of c.tif was aborted; the server deleted its 12 parts (60.0 MiB)."
    )
    wait_idle(qtbot, dialog)  # listed again
    assert dialog.placeholder.text() == EMPTY


def test_a_refused_file_is_told_in_a_sentence(qtbot, make_window, fake_manager, monkeypatch, tmp_path):
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"x")
    fake_manager.remote = [remote("up-4", "d.bin")]
    window = make_window(fake_manager)
    dialog = open_panel(qtbot, window)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (str(wrong), ""))
    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)  # no local file: asks for it
    wait_idle(qtbot, dialog)
    assert ("adopt_remote", ("up-4", wrong)) in fake_manager.calls
    assert dialog.note.kind == "error"
    assert dialog.note.text() == "wrong.bin is not the file this upload was started with."
    assert listed_ids(dialog) == ["up-4"]


# --- against the real local stack ------------------------------------------------------------------


@pytest.fixture
def owner(local_stack: LocalStack) -> str:
    """A token of a principal of its own: the listing shows only this test's uploads."""
    return local_stack.issue_token(principal=f"mover-{uuid.uuid4().hex[:8]}", organization_id="org-7")


def random_file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


@pytest.fixture
def other_computer(tmp_path: Path) -> Iterator[Callable[[str, str, Path, str], str]]:
    """Start an upload as another computer would (its own journal), let it send two parts, pause it."""
    opened: list[tuple[UploadManager, Journal]] = []

    def start(api_url: str, token: str, path: Path, key: str) -> str:
        journal = Journal(tmp_path / f"other-computer-{len(opened)}.sqlite3")
        slow = TransferSettings(part_size=5 * MIB, bandwidth_limit=8 * MIB, per_file_connections=1)
        manager = UploadManager(journal, lambda _url: token, slow)
        opened.append((manager, journal))
        two_parts = threading.Event()

        def watch(status: UploadStatus) -> None:
            if status.parts_done >= 2:
                two_parts.set()

        manager.subscribe(watch)
        upload = add_one(manager, UploadRequest(path=path, api_url=api_url, key=key, metadata=METADATA))
        assert two_parts.wait(60), "the other computer did not send two parts"
        manager.pause(upload.id)
        file_id = manager.status(upload.id).upload_id
        manager.shutdown()  # that computer goes away; the server keeps the parts
        journal.close()
        assert file_id
        return file_id

    yield start
    for manager, journal in opened:
        manager.shutdown()
        journal.close()


def held_uploads(stack: LocalStack) -> set[str]:
    answer = stack.s3.list_multipart_uploads(Bucket=stack.bucket)
    return {upload["UploadId"] for upload in answer.get("Uploads", [])}


def test_an_upload_from_another_computer_is_refused_with_the_wrong_file_and_finished_with_the_right_one(
    qtbot, make_window, make_manager, local_stack, owner, other_computer, tmp_path, monkeypatch
) -> None:
    path = random_file(tmp_path / "src" / "elsewhere.bin", 18 * MIB)
    file_id = other_computer(local_stack.api_url, owner, path, "remote/elsewhere.bin")
    window = make_window(
        make_manager(), api_url=local_stack.api_url, cdn_base_url=local_stack.cdn_base_url, token=owner
    )
    dialog = open_panel(qtbot, window)
    assert listed_ids(dialog) == [file_id]
    assert cell(dialog, 0, RemoteColumn.NAME) == "elsewhere.bin"
    assert cell(dialog, 0, RemoteColumn.KEY) == "remote/elsewhere.bin"
    assert cell(dialog, 0, RemoteColumn.SIZE) == "18.0 MiB"
    held = dialog.model.upload_at(0)
    assert held.parts_held >= 2
    assert cell(dialog, 0, RemoteColumn.HELD) == f"{held.parts_held} parts · {held.parts_held * 5:.1f} MiB"
    assert cell(dialog, 0, RemoteColumn.LOCAL) == "—"  # this computer never saw it
    qtbot.waitUntil(lambda: bool(cell(dialog, 0, RemoteColumn.EXPIRES)), timeout=15000)  # 7 days on

    wrong = random_file(tmp_path / "src" / "not-it.bin", 18 * MIB)
    chosen = [wrong]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (str(chosen[0]), ""))
    qtbot.mouseClick(dialog.locate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, dialog)
    assert dialog.note.kind == "error"
    assert dialog.note.text() == (
        "Part 1 already sent for “remote/elsewhere.bin” differs from not-it.bin; choose the file this upload "
        "was started with."
    )
    assert window.model.rowCount() == 0  # nothing taken over

    chosen[0] = path
    qtbot.mouseClick(dialog.locate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.note.kind == "success", timeout=30000)
    assert dialog.note.text().startswith(f"elsewhere.bin goes on from {path} with the ")
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10000)
    qtbot.waitUntil(lambda: window.model.status_at(0).state is UploadState.DONE, timeout=90000)
    done = window.model.status_at(0)
    assert done.upload_id == file_id, "the parts already sent were kept"
    assert requests.get(done.url, timeout=30).content == path.read_bytes()

    wait_idle(qtbot, dialog)
    qtbot.mouseClick(dialog.refresh_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, dialog)
    assert dialog.placeholder.text() == EMPTY


def test_resume_goes_on_with_the_file_this_computer_started_the_upload_with(
    qtbot, make_window, make_manager, local_stack, owner, credentials, tmp_path
) -> None:
    path = random_file(tmp_path / "src" / "mine.bin", 16 * MIB)
    credentials.remember_for_session(local_stack.api_url, owner)
    slow = TransferSettings(part_size=5 * MIB, bandwidth_limit=8 * MIB, per_file_connections=1)
    first = make_manager(slow)
    request = UploadRequest(path=path, api_url=local_stack.api_url, key="remote/mine.bin", metadata=METADATA)
    upload = add_one(first, request)
    qtbot.waitUntil(lambda: first.status(upload.id).parts_done >= 1, timeout=30000)
    first.pause(upload.id)
    file_id = first.status(upload.id).upload_id
    first.shutdown()  # as at quit: this computer's journal keeps it

    window = make_window(
        make_manager(), api_url=local_stack.api_url, cdn_base_url=local_stack.cdn_base_url, token=owner
    )
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10000)  # listed paused, from the journal
    dialog = open_panel(qtbot, window)
    assert listed_ids(dialog) == [file_id]
    assert cell(dialog, 0, RemoteColumn.LOCAL) == str(path)
    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.note.kind == "success", timeout=30000)
    qtbot.waitUntil(lambda: window.model.status_at(0).state is UploadState.DONE, timeout=90000)
    assert window.model.rowCount() == 1  # the same upload went on: no second row
    assert requests.get(window.model.status_at(0).url, timeout=30).content == path.read_bytes()


def test_abort_removes_the_upload_and_its_parts_from_the_server(
    qtbot, make_window, make_manager, local_stack, owner, other_computer, tmp_path, monkeypatch
) -> None:
    path = random_file(tmp_path / "src" / "drop-me.bin", 16 * MIB)
    file_id = other_computer(local_stack.api_url, owner, path, "remote/drop-me.bin")
    assert file_id in held_uploads(local_stack)
    window = make_window(make_manager(), api_url=local_stack.api_url, token=owner)
    dialog = open_panel(qtbot, window)
    assert listed_ids(dialog) == [file_id]
    asked = answer_abort_question(monkeypatch, "Abort Upload")
    qtbot.mouseClick(dialog.abort_button, Qt.MouseButton.LeftButton)
    (question,) = asked
    assert question[1].startswith("The server deletes the ")
    assert "it holds of “remote/drop-me.bin”" in question[1]
    qtbot.waitUntil(lambda: dialog.note.kind == "success", timeout=30000)
    assert dialog.note.text().startswith("The upload of drop-me.bin was aborted; the server deleted its ")
    wait_idle(qtbot, dialog)
    assert dialog.placeholder.text() == EMPTY
    assert file_id not in held_uploads(local_stack)  # S3 no longer holds its parts


def test_on_the_existing_deployment_the_panel_says_it_needs_this_projects_api(
    qtbot, make_window, make_manager
) -> None:
    with LocalStack(port=0, core_only=True) as stack:
        window = make_window(make_manager(), api_url=stack.api_url, token=stack.token)
        dialog = open_panel(qtbot, window)
        assert dialog.pages.currentWidget() is dialog.placeholder
        text = dialog.placeholder.text()
        assert "needs this project's upload API" in text
        assert text == NotThisApiError(text).message
        assert dialog.note.kind == ""  # said once, not as an error to retry
        assert not dialog.abort_button.isEnabled()
        dialog.close()
