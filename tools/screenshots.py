"""Takes the README's screenshots of the real app on the local stack (docs/screenshot-*.png).

Run under a virtual X server so the real xcb platform draws the window:

    xvfb-run -a -s "-screen 0 1400x900x24" env QT_QPA_PLATFORM=xcb PYTHONPATH=. python tools/screenshots.py

Everything happens in a temporary s3up home; the local stack runs in this process (as `--local` does).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ["S3UP_HOME"] = tempfile.mkdtemp(prefix="s3up-screens-")

from PySide6.QtCore import QCoreApplication, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from app.core.credentials import CredentialStore
from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, UploadState
from app.core.settings import AppSettings, to_transfer_settings
from app.gui.application import create_application, token_source
from app.gui.bridge import UploadBridge
from app.gui.main_window import MainWindow
from app.gui.session import Session
from app.gui.sign_in_dialog import SignInDialog
from app.gui.window_state import window_state_store
from backend.local import LocalStack

DOCS = Path(__file__).resolve().parents[1] / "docs"
METADATA = '{\n  "organizationId": "org-7",\n  "objectRecordId": "rec-2041",\n  "camera": "DJI M3E"\n}'
FILES = {  # name → MiB (sparse: quick to make, still real uploads)
    "flight-01/DJI_0041.MP4": 180,
    "flight-01/DJI_0042.MP4": 150,
    "flight-02/DJI_0107.MP4": 120,
    "flight-02/orthomosaic.tif": 90,
    "flight-02/pointcloud.laz": 60,
    "flight-02/report.pdf": 3,
}


def wait_until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        QCoreApplication.processEvents()
        time.sleep(0.02)


def settle(seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.02)


def shoot(widget: QWidget, name: str) -> None:
    settle()
    screen = widget.screen()
    picture = screen.grabWindow(widget.winId()) if QApplication.platformName() == "xcb" else widget.grab()
    path = DOCS / f"screenshot-{name}.png"
    picture.save(str(path))
    print(path)


def make_files(root: Path) -> Path:
    folder = root / "survey-2026-041"
    for name, mib in FILES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            file.write(os.urandom(64 * 1024))
            file.truncate(mib * MIB)
    return folder


def main() -> int:
    app = create_application(sys.argv[:1])
    with LocalStack(port=0) as stack:
        journal = Journal.open_default()
        credentials = CredentialStore()
        settings = AppSettings(bandwidth_limit_mib=24, key_template="{relpath}", last_metadata=METADATA)
        manager = UploadManager(journal, token_source(credentials), to_transfer_settings(settings))
        bridge = UploadBridge(manager)
        session = Session.for_local_stack(
            bridge,
            credentials,
            settings,
            api_url=stack.api_url,
            cdn_base_url=stack.cdn_base_url,
            token=stack.token,
            log_folder=Path(os.environ["S3UP_HOME"]) / "logs",
        )
        window = MainWindow(bridge, session, window_state_store())
        window.resize(1180, 720)
        window.move(40, 40)
        window.show()
        window.start()
        try:
            shoot(window, "empty")

            dialog = SignInDialog(
                bridge,
                credentials,
                api_url="https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
                cdn_base_url="https://d111111abcdef8.cloudfront.net",
                parent=window,
            )
            dialog.token_edit.setText("x" * 40)
            dialog.open()
            dialog.sign_in_button.setFocus()
            wait_until(lambda: dialog.keyring_label.text() != "Looking for the keyring…")
            shoot(dialog, "sign-in")
            dialog.reject()

            folder = make_files(Path(tempfile.mkdtemp(prefix="s3up-files-")))
            mime = QMimeData()
            mime.setUrls([QUrl.fromLocalFile(str(folder))])
            center = QPointF(window.width() / 2, window.height() / 2)
            for kind, position in ((QDragEnterEvent, center.toPoint()), (QDropEvent, center)):
                QApplication.sendEvent(
                    window,
                    kind(
                        position,
                        Qt.DropAction.CopyAction,
                        mime,
                        Qt.MouseButton.LeftButton,
                        Qt.KeyboardModifier.NoModifier,
                    ),
                )
            wait_until(lambda: window.metadata_dialog is not None and window.metadata_dialog.isVisible())
            metadata = window.metadata_dialog
            metadata.move(window.x() + 200, window.y() + 40)
            metadata.template_edit.setText("surveys/{objectRecordId}/{relpath}")
            metadata.validate()
            shoot(metadata, "metadata")
            metadata.editor.setPlainText(METADATA.replace('"org-7",', '"org-7"'))
            metadata.validate()
            shoot(metadata, "metadata-error")
            metadata.editor.setPlainText(METADATA)
            metadata.validate()
            metadata.start_button.click()

            wait_until(lambda: window.model.rowCount() == len(FILES))
            wait_until(lambda: window.model.totals().done > 0.3 * window.model.totals().size)
            window.bridge.command("pause", [window.model.status_at(4).id])
            window.view.selectRow(0)
            settle(1.5)
            shoot(window, "uploading")

            window.session.update_settings(
                AppSettings(key_template="{relpath}", last_metadata=METADATA), apply=True
            )
            window.bridge.resume_all()
            wait_until(lambda: all(s.state is UploadState.DONE for s in window.model.statuses()), timeout=300)
            window.view.selectRow(1)
            settle(1.0)
            shoot(window, "done")
        finally:
            window.close()
            bridge.shutdown()
            manager.shutdown()
            journal.close()
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
