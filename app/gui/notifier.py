"""Tells the user a batch finished: a tray notification where the desktop has a tray, else the window
asks for attention (taskbar flash, dock bounce)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from app.core.models import UploadState, UploadStatus
from app.gui.formatting import plural
from app.gui.resources import app_icon

_PROBLEMS = (UploadState.FAILED, UploadState.FILE_CHANGED, UploadState.FILE_MISSING, UploadState.CONFLICT)
_SETTLED = (UploadState.DONE, UploadState.CANCELLED, *_PROBLEMS)


@dataclass(frozen=True)
class BatchSummary:
    title: str
    text: str


class BatchTracker:
    """The uploads started since the last batch settled; says when all of them have settled."""

    def __init__(self) -> None:
        self._ids: set[int] = set()

    def add(self, ids: Iterable[int]) -> None:
        self._ids.update(ids)

    def finished(self, lookup: Callable[[int], UploadStatus | None]) -> BatchSummary | None:
        """A summary once every upload of the batch is done, cancelled or failed (then a new batch
        begins); None while any is still going, and when nothing was uploaded or failed."""
        if not self._ids:
            return None
        statuses = [status for status in map(lookup, self._ids) if status is not None]
        if any(status.state not in _SETTLED for status in statuses):
            return None
        self._ids.clear()
        done = sum(1 for s in statuses if s.state is UploadState.DONE)
        failed = sum(1 for s in statuses if s.state in _PROBLEMS)
        if not done and not failed:
            return None
        text = f"{plural(done, 'file')} uploaded" + (f", {failed} failed" if failed else "") + "."
        return BatchSummary("Uploads finished with problems" if failed else "Uploads finished", text)


class Notifier(QObject):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self._tray: QSystemTrayIcon | None = None
        self.last_message: tuple[str, str] | None = None  # (title, text), for the status bar and tests
        if QSystemTrayIcon.isSystemTrayAvailable():
            self._tray = QSystemTrayIcon(app_icon(), self)
            self._tray.setToolTip("s3up")
            self._tray.activated.connect(self._raise_window)
            self._tray.show()

    def notify(self, title: str, text: str) -> None:
        self.last_message = (title, text)
        if self._tray is not None and QSystemTrayIcon.supportsMessages():
            self._tray.showMessage(title, text, app_icon(), 8000)
        else:
            QApplication.alert(self._window)

    def _raise_window(self) -> None:
        self._window.showNormal()
        self._window.raise_()
        self._window.activateWindow()

    def hide(self) -> None:
        if self._tray is not None:
            self._tray.hide()
