"""What a resumed upload's row says (issue 11 items 3 and 7), end to end with the real engine and the
local stack: the check of the parts sent before ("Checking 0 of 3 parts…") while it runs, and the
engine's sentence when the server had lost the upload and it starts again from its first part."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from PySide6.QtCore import Qt

from app.core import worker
from app.core.credentials import CredentialStore
from app.core.manager import UploadManager
from app.core.models import MIB, TransferSettings, UploadRequest, UploadState, UploadStatus
from app.gui.main_window import MainWindow
from app.gui.upload_table_model import Column
from backend.local import LocalStack
from tests.core.adding import add_one

pytestmark = pytest.mark.slow

METADATA = {"organizationId": "org-7", "objectRecordId": "rec-42"}


def sent_in_part(
    make_manager: Callable[..., UploadManager], api_url: str, path: Path, parts: int
) -> UploadStatus:
    """Send `parts` parts of `path` in an earlier run of the app, then quit (the journal keeps it)."""
    slow = TransferSettings(part_size=5 * MIB, bandwidth_limit=8 * MIB, per_file_connections=1)
    manager = make_manager(slow)
    enough = threading.Event()
    manager.subscribe(lambda status: enough.set() if status.parts_done >= parts else None)
    upload = add_one(
        manager, UploadRequest(path=path, api_url=api_url, key=f"resumed/{path.name}", metadata=METADATA)
    )
    assert enough.wait(60), f"{parts} parts were not sent"
    manager.pause(upload.id)
    manager.shutdown()
    status = manager.status(upload.id)
    assert status is not None
    return status


def state_cell(window: MainWindow, role: Qt.ItemDataRole = Qt.ItemDataRole.DisplayRole) -> str:
    return window.model.index(0, Column.STATE).data(role) or ""


def resume_all(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10000)  # listed paused, from the journal
    qtbot.mouseClick(window.toolbar.widgetForAction(window.actions.resume_all), Qt.MouseButton.LeftButton)


@pytest.fixture
def signed_in(credentials: CredentialStore, local_stack: LocalStack, stack_token: str) -> str:
    credentials.remember_for_session(local_stack.api_url, stack_token)
    return stack_token


def test_the_row_shows_the_check_of_the_parts_sent_before(
    qtbot, make_window, make_manager, local_stack, signed_in, tmp_path, monkeypatch
) -> None:
    path = tmp_path / "checked.bin"
    path.write_bytes(os.urandom(20 * MIB))
    before = sent_in_part(make_manager, local_stack.api_url, path, parts=2)

    # The check waits for the test, so that the row can be looked at while it runs.
    gate = threading.Event()
    real_verify = worker.verify_part

    def gated_verify(job):
        assert gate.wait(60)
        return real_verify(job)

    monkeypatch.setattr(worker, "verify_part", gated_verify)
    window = make_window(
        make_manager(), api_url=local_stack.api_url, cdn_base_url=local_stack.cdn_base_url, token=signed_in
    )
    resume_all(qtbot, window)
    qtbot.waitUntil(lambda: state_cell(window).startswith("Checking "), timeout=30000)
    checked = window.model.status_at(0).parts_to_check
    assert checked >= before.parts_done
    assert state_cell(window) == f"Checking 0 of {checked} parts…"
    assert state_cell(window, Qt.ItemDataRole.ToolTipRole).startswith(
        f"Checking the parts sent before against the file: 0 of {checked}."
    )
    window.view.selectRow(0)
    assert f"checking the parts sent before: 0 of {checked}" in window.details.state_label.text()

    gate.set()
    qtbot.waitUntil(lambda: window.model.status_at(0).state is UploadState.DONE, timeout=90000)
    done = window.model.status_at(0)
    assert done.parts_checked == checked
    assert state_cell(window) == "Done"
    assert requests.get(done.url, timeout=30).content == path.read_bytes()


def test_a_resume_that_found_the_upload_gone_starts_again_and_says_why(
    qtbot, make_window, make_manager, local_stack, signed_in, tmp_path, monkeypatch
) -> None:
    path = tmp_path / "lost.bin"
    path.write_bytes(os.urandom(16 * MIB))
    before = sent_in_part(make_manager, local_stack.api_url, path, parts=1)
    # The bucket's clean-up rule deleted the unfinished upload meanwhile.
    local_stack.s3.abort_multipart_upload(
        Bucket=local_stack.bucket, Key=before.key, UploadId=before.upload_id
    )
    # The new start waits for the test, so that the row can be looked at before the first part goes.
    gate = threading.Event()
    real_start_batch, real_prepare = worker.start_batch, worker.prepare

    def gated_start_batch(*args, **kwargs):
        assert gate.wait(60)
        return real_start_batch(*args, **kwargs)

    def gated_prepare(api, info, job):
        if job.upload_id is None:  # a start from the first part (the resume's reconcile goes through)
            assert gate.wait(60)
        return real_prepare(api, info, job)

    monkeypatch.setattr(worker, "start_batch", gated_start_batch)
    monkeypatch.setattr(worker, "prepare", gated_prepare)
    window = make_window(
        make_manager(), api_url=local_stack.api_url, cdn_base_url=local_stack.cdn_base_url, token=signed_in
    )
    resume_all(qtbot, window)
    said = (
        "The server no longer had the parts sent before (unfinished uploads are deleted after a few days, or "
        "it was cancelled elsewhere), so the file is sent again from its first part."
    )
    qtbot.waitUntil(lambda: said in state_cell(window, Qt.ItemDataRole.ToolTipRole), timeout=30000)
    window.view.selectRow(0)
    assert said in window.details.message_label.text()

    gate.set()
    qtbot.waitUntil(lambda: window.model.status_at(0).state is UploadState.DONE, timeout=90000)
    done = window.model.status_at(0)
    assert done.upload_id != before.upload_id, "a new upload, from the first part"
    assert requests.get(done.url, timeout=30).content == path.read_bytes()
