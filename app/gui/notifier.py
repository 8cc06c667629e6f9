"""Tells the user a batch finished: a tray notification where the desktop has a tray, else the window
asks for attention (taskbar flash, dock bounce)."""

from __future__ import annotations

from collections.abc import Iterable
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
    """The uploads started since the last batch settled; says when all of them have settled.

    It is told of every status as it arrives, so that knowing whether a batch of 10,000 uploads has
    settled costs nothing per update."""

    def __init__(self) -> None:
        self._states: dict[int, UploadState] = {}  # upload id → its latest state
        self._unsettled: set[int] = set()

    def add(self, statuses: Iterable[UploadStatus]) -> None:
        for status in statuses:
            self._states[status.id] = status.state
        self.note(statuses)

    def note(self, statuses: Iterable[UploadStatus]) -> None:
        """The latest statuses (of any uploads: those not in the batch are ignored)."""
        for status in statuses:
            if status.id not in self._states:
                continue
            self._states[status.id] = status.state
            if status.state in _SETTLED:
                self._unsettled.discard(status.id)
            else:
                self._unsettled.add(status.id)

    def finished(self) -> BatchSummary | None:
        """A summary once every upload of the batch is done, cancelled or failed (then a new batch
        begins); None while any is still going, and when nothing was uploaded or failed."""
        if not self._states or self._unsettled:
            return None
        states = list(self._states.values())
        self._states.clear()
        done = sum(1 for state in states if state is UploadState.DONE)
        failed = sum(1 for state in states if state in _PROBLEMS)
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
