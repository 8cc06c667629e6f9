"""The few style touches the platform styles lack: quiet hint text, the details pane's title and rule."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

STYLE_SHEET = """
QLabel#hint { color: palette(placeholder-text); }
QLabel#caption { color: palette(placeholder-text); }
QLabel#detailsTitle { font-size: 13pt; font-weight: 600; }
QFrame#details { border-top: 1px solid palette(mid); }
QLabel#apiLabel { padding: 0 8px; color: palette(placeholder-text); }
QStatusBar QLabel { padding: 0 6px; }
QToolBar { spacing: 4px; padding: 4px 6px; }
QHeaderView::section:horizontal { padding: 3px 8px; }
"""


def apply_style(app: QApplication) -> None:
    app.setStyleSheet(STYLE_SHEET)
