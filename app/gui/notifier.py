"""Tells the user a batch finished: a tray notification where the desktop has a tray, else the window
asks for attention (taskbar flash, dock bounce)."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from app.gui.resources import app_icon


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
