"""Remembers the window's size, its columns and the split between queue and details (`window.ini`)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QHeaderView, QMainWindow, QSplitter

from app.core.paths import config_dir


def window_state_store(directory: Path | None = None) -> QSettings:
    """The INI file in the config dir (or `directory`) where the window's state is kept."""
    return QSettings(str((directory or config_dir()) / "window.ini"), QSettings.Format.IniFormat)


def restore_window_state(
    store: QSettings, window: QMainWindow, header: QHeaderView, splitter: QSplitter
) -> None:
    for key, restore in (
        ("geometry", window.restoreGeometry),
        ("windowState", window.restoreState),
        ("columns", header.restoreState),
        ("splitter", splitter.restoreState),
    ):
        value = store.value(key)
        if isinstance(value, QByteArray):
            restore(value)


def save_window_state(
    store: QSettings, window: QMainWindow, header: QHeaderView, splitter: QSplitter
) -> None:
    store.setValue("geometry", window.saveGeometry())
    store.setValue("windowState", window.saveState())
    store.setValue("columns", header.saveState())
    store.setValue("splitter", splitter.saveState())
    store.sync()
