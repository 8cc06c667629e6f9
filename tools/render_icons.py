"""Renders resources/s3up.svg into the PNG sizes the app and the installers use.

Run after changing the SVG: `QT_QPA_PLATFORM=offscreen PYTHONPATH=. python tools/render_icons.py`.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from app.gui.resources import APP_ICON_SIZES, resource_path


def main() -> int:
    QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(resource_path("s3up.svg")))
    if not renderer.isValid():
        print("resources/s3up.svg is not a valid SVG", file=sys.stderr)
        return 1
    out_dir = resource_path("icons", "app")
    out_dir.mkdir(parents=True, exist_ok=True)
    for size in APP_ICON_SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        target = out_dir / f"s3up-{size}.png"
        image.save(str(target))
        print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
