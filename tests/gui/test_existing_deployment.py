"""Issue 10 in the app: against the existing deployment as API Gateway answers it
(`LocalStack(core_only=True)`, its 3 s function timeout), the sign-in names it and the app uploads a
40 MiB file whose link serves the same bytes."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
import requests

from app.core.models import MIB, TransferSettings, UploadState
from app.core.settings import AppSettings
from backend.local import LocalStack
from tests.gui.conftest import VALID_METADATA
from tests.gui.test_drop import drop, start_batch
from tests.gui.test_sign_in import sign_in

pytestmark = pytest.mark.slow


def test_the_app_signs_in_to_the_existing_deployment_and_uploads_40_mib_whose_link_serves_the_same_bytes(
    qtbot, make_window, make_manager, tmp_path
) -> None:
    path = tmp_path / "survey.bin"
    path.write_bytes(os.urandom(40 * MIB))
    # The existing deployment's handlers stop after 3 s (the core-only default, said here outright).
    with LocalStack(port=0, core_only=True, function_timeout=3) as stack:
        window = make_window(
            make_manager(TransferSettings()),  # the engine's defaults: automatic parts and connections
            signed_in=False,
            settings=AppSettings(last_metadata=VALID_METADATA),
        )
        qtbot.waitUntil(lambda: window.sign_in_dialog is not None, timeout=5000)
        dialog = window.sign_in_dialog
        dialog.api_url_edit.setText(stack.api_url)
        dialog.cdn_edit.setText(stack.cdn_base_url)
        assert sign_in(qtbot, dialog, f"{stack.token}\n")  # pasted with its line break
        qtbot.waitUntil(lambda: window.sign_in_dialog is None, timeout=10000)
        assert "This is the existing deployment" in window.statusBar().currentMessage()
        assert window.api_label.text().endswith("(existing deployment)")
        assert urlsplit(stack.api_url).netloc in window.api_label.text()

        drop(window, [path])
        start_batch(qtbot, window)
        qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10000)
        qtbot.waitUntil(lambda: window.model.status_at(0).state.is_finished, timeout=180000)
        done = window.model.status_at(0)
        assert done.state is UploadState.DONE, done.message
        assert done.url == f"{stack.cdn_base_url}/survey.bin"
        answer = requests.get(done.url, timeout=60)
        assert answer.status_code == 200
        assert answer.content == path.read_bytes()
