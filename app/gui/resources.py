"""Finds the bundled `resources/` folder (source tree or PyInstaller bundle) and loads icons from it."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

APP_ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ACTION_ICON_SIZES = (16, 20, 24, 32, 40, 48, 64, 96, 128)
INK = "#3d4654"  # the bundled action icons' stroke colour, drawn for light backgrounds
INK_ON_DARK = "#d6dbe2"


def resource_dir() -> Path:
    """The `resources/` folder: inside a PyInstaller bundle (`sys._MEIPASS`) or at the repository root."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def resource_path(*parts: str) -> Path:
    """A file under `resources/`, e.g. `resource_path("icons", "pause.svg")`."""
    return resource_dir().joinpath(*parts)


def icon(name: str) -> QIcon:
    """An action icon from the app's own set (never the desktop theme's, so the set stays one style),
    in a light ink when the palette is dark."""
    return _icon(resource_path("icons", f"{name}.svg"), is_dark(QGuiApplication.palette()))


@cache
def _icon(path: Path, dark: bool) -> QIcon:
    try:
        svg = path.read_bytes()
    except OSError:  # a broken bundle: the self-test reports it; the window still works
        return QIcon()
    if dark:
        svg = svg.replace(INK.encode(), INK_ON_DARK.encode())
    renderer = QSvgRenderer(QByteArray(svg))
    result = QIcon()
    if not renderer.isValid():
        return result
    for size in ACTION_ICON_SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        result.addPixmap(QPixmap.fromImage(image))
    return result


def is_dark(palette: QPalette) -> bool:
    """True when the window background is darker than its text (a dark theme)."""
    window = palette.color(QPalette.ColorRole.Window).lightness()
    return window < palette.color(QPalette.ColorRole.WindowText).lightness()


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
