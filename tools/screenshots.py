"""Takes the docs' screenshots of the real app on the local stack (docs/screenshot-*.png).

Run under a virtual X server so the real xcb platform draws the window:

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb PYTHONPATH=. python tools/screenshots.py
    ... python tools/screenshots.py --dark           # Fusion with a dark palette: *-dark.png
    ... env QT_SCALE_FACTOR=2 ... python tools/screenshots.py --only uploading --suffix -200

Shots: empty, sign-in, sign-in-existing (the existing deployment named, on a core-only stack), metadata,
metadata-error, uploading, done, remote (the unfinished uploads another computer left on the server, with
a wrong file refused).

Everything happens in a temporary s3up home; the local stack runs in this process (as `--local` does),
and the app is built by the same wiring as the app itself (`app.gui.startup.wired_app`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ["S3UP_HOME"] = tempfile.mkdtemp(prefix="s3up-screens-")

import threading

from PySide6.QtCore import QCoreApplication, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QPalette
from PySide6.QtWidgets import QApplication, QFileDialog, QStyleFactory, QWidget

from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, TransferSettings, UploadRequest, UploadState, UploadStatus
from app.core.settings import AppSettings, to_transfer_settings
from app.gui.application import create_application
from app.gui.commands import Action, ResumeAll, UpdateSettings, for_uploads
from app.gui.sign_in_dialog import SignInDialog
from app.gui.startup import wired_app
from app.local_backend import LocalApi
from backend.local import LocalStack

DOCS = Path(__file__).resolve().parents[1] / "docs"
METADATA = '{\n  "organizationId": "org-7",\n  "objectRecordId": "rec-2041",\n  "camera": "DJI M3E"\n}'
ELSEWHERE = {  # left unfinished by "another computer": key → MiB
    "surveys/rec-2039/flight-03/DJI_0211.MP4": 160,
    "surveys/rec-2039/flight-03/DJI_0212.MP4": 120,
    "surveys/rec-2040/orthomosaic.tif": 70,
}
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


class Camera:
    def __init__(self, suffix: str, only: set[str]) -> None:
        self.suffix, self.only = suffix, only

    def wants(self, name: str) -> bool:
        return not self.only or name in self.only

    def shoot(self, widget: QWidget, name: str) -> None:
        if not self.wants(name):
            return
        settle()
        on_x = QApplication.platformName() == "xcb"  # with the window manager's frame where there is one
        picture = widget.screen().grabWindow(widget.winId()) if on_x else widget.grab()
        path = DOCS / f"screenshot-{name}{self.suffix}.png"
        picture.save(str(path))
        print(path, f"{picture.width()}x{picture.height()}", flush=True)


def dark_palette() -> QPalette:
    """A dark palette for Fusion, as a dark desktop theme gives one."""
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#2b2d31",
        QPalette.ColorRole.WindowText: "#e4e6eb",
        QPalette.ColorRole.Base: "#1f2023",
        QPalette.ColorRole.AlternateBase: "#26282c",
        QPalette.ColorRole.Text: "#e4e6eb",
        QPalette.ColorRole.Button: "#33363b",
        QPalette.ColorRole.ButtonText: "#e4e6eb",
        QPalette.ColorRole.Highlight: "#3d7be0",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#33363b",
        QPalette.ColorRole.ToolTipText: "#e4e6eb",
        QPalette.ColorRole.PlaceholderText: "#9aa0a8",
        QPalette.ColorRole.Mid: "#45484e",
        QPalette.ColorRole.Light: "#55585f",
        QPalette.ColorRole.Midlight: "#3d4046",
        QPalette.ColorRole.Dark: "#18191c",
        QPalette.ColorRole.Shadow: "#0e0f11",
        QPalette.ColorRole.Link: "#7fb0ff",
    }
    for role, color in colors.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7b7f86"))
    return palette


def sparse_file(path: Path, mib: int, marked: int = 0) -> Path:
    """A file of `mib` MiB, mostly a hole, that starts with random bytes (and has some at every `marked`
    MiB, so that no part of it equals another file's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        file.truncate(mib * MIB)
        for offset in range(0, mib, marked or mib):
            file.seek(offset * MIB)
            file.write(os.urandom(64 * 1024))
    return path


def make_files(root: Path) -> Path:
    folder = root / "survey-2026-041"
    for name, mib in FILES.items():
        sparse_file(folder / name, mib)
    return folder


def leave_unfinished_elsewhere(stack: LocalStack, root: Path) -> None:
    """Start uploads as another computer would (a journal of its own), send a few parts, and pause."""
    journal = Journal(root / "other-computer.sqlite3")
    settings = TransferSettings(part_size=8 * MIB, bandwidth_limit=24 * MIB)
    manager = UploadManager(journal, lambda _url: stack.token, settings)
    sent: dict[int, threading.Event] = {}

    def watch(status: UploadStatus) -> None:
        if status.parts_done >= 3 and status.id in sent:
            sent[status.id].set()

    manager.subscribe(watch)
    metadata = {"organizationId": "org-7", "objectRecordId": "rec-2039"}
    for key, mib in ELSEWHERE.items():
        path = sparse_file(root / "elsewhere" / key, mib)
        added = manager.add_many(
            [UploadRequest(path=path, api_url=stack.api_url, key=key, metadata=metadata)]
        )
        if added.refused:
            raise added.refused[0][1]
        upload = added.added[0]
        sent[upload.id] = threading.Event()
        if not sent[upload.id].wait(120):
            raise TimeoutError("the other computer did not send its parts")
        manager.pause(upload.id)
    manager.shutdown()
    journal.close()


def drop_on(window: QWidget, folder: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    center = QPointF(window.width() / 2, window.height() / 2)
    for kind, position in ((QDragEnterEvent, center.toPoint()), (QDropEvent, center)):
        button, modifier = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        event = kind(position, Qt.DropAction.CopyAction, mime, button, modifier)
        QApplication.sendEvent(window, event)


def main() -> int:
    parser = argparse.ArgumentParser(description="Screenshots of the real app for docs/.")
    parser.add_argument("--dark", action="store_true", help="Fusion with a dark palette")
    parser.add_argument("--suffix", default=None, help="added to each file name (default: -dark with --dark)")
    parser.add_argument("--only", action="append", default=[], help="take only these (e.g. uploading)")
    options = parser.parse_args()
    suffix = options.suffix if options.suffix is not None else ("-dark" if options.dark else "")
    camera = Camera(suffix, set(options.only))
    app = create_application(sys.argv[:1])
    if options.dark:
        app.setStyle(QStyleFactory.create("Fusion"))
        app.setPalette(dark_palette())
    settings = AppSettings(bandwidth_limit_mib=24, key_template="{relpath}", last_metadata=METADATA)
    with (
        LocalStack(port=0) as stack,
        wired_app(local=LocalApi(stack.api_url, stack.cdn_base_url, stack.token), settings=settings) as wired,
    ):
        window, bridge = wired.window, wired.bridge
        window.resize(1280, 760)
        window.move(40, 40)
        window.show()
        window.start()
        camera.shoot(window, "empty")

        if camera.wants("sign-in"):
            dialog = SignInDialog(
                bridge,
                wired.session.credentials,
                api_url="https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
                cdn_base_url="https://d111111abcdef8.cloudfront.net",
                parent=window,
            )
            dialog.token_edit.setText("x" * 40)
            dialog.open()
            dialog.sign_in_button.setFocus()
            wait_until(lambda: dialog.keyring_label.text() != "Looking for the keyring…")
            camera.shoot(dialog, "sign-in")
            dialog.reject()

        if camera.wants("sign-in-existing"):
            with LocalStack(port=0, core_only=True) as existing:
                dialog = SignInDialog(
                    bridge, wired.session.credentials, api_url=existing.api_url, parent=window
                )
                dialog.token_edit.setText(existing.token)
                dialog.open()
                dialog.sign_in_button.click()
                wait_until(lambda: dialog.message_label.kind == "warning")
                camera.shoot(dialog, "sign-in-existing")
                dialog.reject()

        drop_on(window, make_files(Path(tempfile.mkdtemp(prefix="s3up-files-"))))
        wait_until(lambda: (shown := window.adder.metadata_dialog) is not None and shown.isVisible())
        metadata = window.adder.metadata_dialog
        metadata.move(window.x() + 200, window.y() + 30)
        metadata.template_edit.setText("surveys/{objectRecordId}/{relpath}")
        metadata.validate()
        camera.shoot(metadata, "metadata")
        if camera.wants("metadata-error"):
            metadata.editor.setPlainText(METADATA.replace('"org-7",', '"org-7"'))
            metadata.validate()
            camera.shoot(metadata, "metadata-error")
            metadata.editor.setPlainText(METADATA)
            metadata.validate()
        metadata.start_button.click()

        model = window.model
        wait_until(lambda: model.rowCount() == len(FILES))
        wait_until(lambda: model.summary().sent > 0.3 * model.summary().size)
        bridge.send(for_uploads(Action.PAUSE, [model.status_at(4).id]))
        window.view.selectRow(0)
        settle(1.5)
        camera.shoot(window, "uploading")

        if camera.wants("done"):
            bridge.send(UpdateSettings(to_transfer_settings(AppSettings())))  # unlimited again
            bridge.send(ResumeAll())
            wait_until(lambda: all(s.state is UploadState.DONE for s in model.statuses()), timeout=300)
            window.view.selectRow(1)
            settle(1.0)
            camera.shoot(window, "done")

        if camera.wants("remote"):
            leave_unfinished_elsewhere(stack, Path(tempfile.mkdtemp(prefix="s3up-elsewhere-")))
            window.show_remote_uploads()
            panel = window.remote_dialog
            panel.move(window.x() + 120, window.y() + 150)
            wait_until(lambda: not panel.busy and panel.model.rowCount() >= len(ELSEWHERE))
            wait_until(lambda: bool(panel.model.index(0, 5).data()))  # when the parts go
            panel.table.selectRow(1)
            wrong = sparse_file(Path(tempfile.mkdtemp(prefix="s3up-wrong-")) / "DJI_0212.MP4", 120, marked=8)
            QFileDialog.getOpenFileName = lambda *args, **kwargs: (str(wrong), "")  # the user's choice
            panel.locate_button.click()
            wait_until(lambda: not panel.busy and panel.note.kind == "error")
            camera.shoot(panel, "remote")
            panel.close()
        window.close_without_asking()
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
