"""Finds the bundled `resources/` folder (source tree or PyInstaller bundle) and loads icons from it."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

APP_ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

# Action icon name → the freedesktop theme name preferred on Linux desktops that have an icon theme.
_THEME_NAMES = {
    "add-files": "document-new",
    "add-folder": "folder-new",
    "pause": "media-playback-pause",
    "resume": "media-playback-start",
    "sign-in": "system-log-in",
    "sign-out": "system-log-out",
    "settings": "preferences-system",
    "copy": "edit-copy",
    "open-link": "internet-web-browser",
    "cancel": "process-stop",
    "retry": "view-refresh",
    "remove": "edit-delete",
    "show-in-folder": "folder-open",
    "quit": "application-exit",
    "about": "help-about",
    "log-folder": "folder-documents",
}


def resource_dir() -> Path:
    """The `resources/` folder: inside a PyInstaller bundle (`sys._MEIPASS`) or at the repository root."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def resource_path(*parts: str) -> Path:
    """A file under `resources/`, e.g. `resource_path("icons", "pause.svg")`."""
    return resource_dir().joinpath(*parts)


@cache
def icon(name: str) -> QIcon:
    """An action icon: the desktop theme's when it has one, else the bundled SVG."""
    bundled = QIcon(str(resource_path("icons", f"{name}.svg")))
    theme_name = _THEME_NAMES.get(name)
    if theme_name and QIcon.hasThemeIcon(theme_name):
        return QIcon.fromTheme(theme_name)
    return bundled


@cache
def app_icon() -> QIcon:
    """The application icon, with the pre-rendered PNG sizes and the SVG for anything larger."""
    result = QIcon()
    for size in APP_ICON_SIZES:
        png = resource_path("icons", "app", f"s3up-{size}.png")
        if png.exists():
            result.addFile(str(png), QSize(size, size))
    result.addFile(str(resource_path("s3up.svg")))
    return result
