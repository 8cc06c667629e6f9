"""Remembers the window's size, its columns and the split between queue and details (`window.ini`), and
keeps the window on its screen whatever the scale."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QRect, QSettings
from PySide6.QtWidgets import QHeaderView, QMainWindow, QSplitter

from app.core.paths import config_dir

RESUME_AT_START = "resumeAtStart"  # uploads that were running when the user chose Pause and Quit


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
    fit_to_screen(window)


def save_window_state(
    store: QSettings, window: QMainWindow, header: QHeaderView, splitter: QSplitter
) -> None:
    store.setValue("geometry", window.saveGeometry())
    store.setValue("windowState", window.saveState())
    store.setValue("columns", header.saveState())
    store.setValue("splitter", splitter.saveState())
    store.sync()


def fit_to_screen(window: QMainWindow) -> None:
    """Shrink and move the window so that all of it is on the screen it is on (at 200 % scale a saved or
    default size can be larger than the screen)."""
    screen = window.screen()
    if screen is None:
        return
    fitted = fitted_geometry(window.frameGeometry(), window.geometry(), screen.availableGeometry())
    if fitted != window.geometry():
        window.setGeometry(fitted)


def fitted_geometry(frame: QRect, inner: QRect, available: QRect) -> QRect:
    """`inner` (the window without its frame) shrunk and moved so that `frame` fits in `available`."""
    margin_w, margin_h = frame.width() - inner.width(), frame.height() - inner.height()
    width = min(inner.width(), available.width() - margin_w)
    height = min(inner.height(), available.height() - margin_h)
    left = min(max(frame.left(), available.left()), available.right() + 1 - (width + margin_w))
    top = min(max(frame.top(), available.top()), available.bottom() + 1 - (height + margin_h))
    return QRect(left + (inner.left() - frame.left()), top + (inner.top() - frame.top()), width, height)


def saved_ids(store: QSettings, key: str) -> list[int]:
    """A list of upload ids kept under `key` (empty when there is none or it is unreadable)."""
    value = store.value(key)
    items = value if isinstance(value, list) else [value] if value else []
    ids = []
    for item in items:
        try:
            ids.append(int(item))
        except (TypeError, ValueError):
            continue
    return ids


def save_ids(store: QSettings, key: str, ids: list[int]) -> None:
    if ids:
        store.setValue(key, [str(i) for i in ids])
    else:
        store.remove(key)
    store.sync()
