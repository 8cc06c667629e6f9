"""Paints the progress column: a slim rounded bar coloured by state, with the percentage beside it.

Each distinct bar (size, percent, state, selection) is drawn once into a cached pixmap, so a repaint
costs a few calls instead of a dozen drawing operations per row: the GUI thread shares the
interpreter with the upload threads, and every call into Qt is a chance to wait for them.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.core.models import UploadState, UploadStatus
from app.gui.formatting import percent, percent_text
from app.gui.upload_table_model import FRACTION_ROLE, STATUS_ROLE

BAR_COLORS = {
    UploadState.UPLOADING: QColor("#2f7bf0"),
    UploadState.FINALIZING: QColor("#2f7bf0"),
    UploadState.QUEUED: QColor("#8fb3f5"),
    UploadState.DONE: QColor("#2e9d5b"),
    UploadState.PAUSED: QColor("#98a2af"),
    UploadState.CANCELLED: QColor("#b6bcc4"),
    UploadState.NEEDS_SIGN_IN: QColor("#e0912f"),
    UploadState.FILE_CHANGED: QColor("#e0912f"),
    UploadState.FILE_MISSING: QColor("#e0912f"),
    UploadState.CONFLICT: QColor("#e0912f"),
    UploadState.FAILED: QColor("#d64545"),
}

BAR_HEIGHT = 6.0
TEXT_WIDTH = 44
PADDING = 8
CACHE_LIMIT = 1024

_BarKey = tuple[int, int, int, UploadState, bool, float, int]


class ProgressDelegate(QStyledItemDelegate):
    """For the progress column only (it reads the row's `UploadStatus` from `STATUS_ROLE`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bars: dict[_BarKey, QPixmap] = {}

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        status: UploadStatus | None = index.data(STATUS_ROLE)
        fraction: float | None = index.data(FRACTION_ROLE)
        if status is None or fraction is None:  # no bar where it would mislead (the file is gone)
            super().paint(painter, option, index)
            return
        widget = option.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else QApplication.style()
        background = QStyleOptionViewItem(option)
        self.initStyleOption(background, index)
        background.text = ""  # type: ignore[attr-defined]
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, background, painter, widget)
        rect = option.rect  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        shown = percent(fraction)
        ratio = painter.device().devicePixelRatioF()
        key = (rect.width(), rect.height(), shown, status.state, selected, ratio, option.palette.cacheKey())  # type: ignore[attr-defined]
        bar = self._bars.get(key)
        if bar is None:
            if len(self._bars) >= CACHE_LIMIT:
                self._bars.clear()
            bar = self._bars[key] = _draw_bar(key, option.palette)  # type: ignore[attr-defined]
        painter.drawPixmap(rect.topLeft(), bar)


def _draw_bar(key: _BarKey, palette: QPalette) -> QPixmap:
    width, height, whole, state, selected, ratio, _ = key
    pixmap = QPixmap(max(1, round(width * ratio)), max(1, round(height * ratio)))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    bar = QRectF(
        PADDING, height / 2 - BAR_HEIGHT / 2 + 1, max(0, width - 2 * PADDING - TEXT_WIDTH), BAR_HEIGHT
    )
    track = QColor(palette.color(QPalette.ColorRole.Text))
    track.setAlphaF(0.25 if selected else 0.12)
    painter.setBrush(track)
    painter.drawRoundedRect(bar, BAR_HEIGHT / 2, BAR_HEIGHT / 2)
    if whole > 0:
        filled = QRectF(bar)
        filled.setWidth(max(BAR_HEIGHT, bar.width() * whole / 100))
        painter.setBrush(palette.color(QPalette.ColorRole.HighlightedText) if selected else BAR_COLORS[state])
        painter.drawRoundedRect(filled, BAR_HEIGHT / 2, BAR_HEIGHT / 2)
    role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
    painter.setPen(palette.color(role))
    text = QRectF(width - PADDING - TEXT_WIDTH, 0, TEXT_WIDTH, height)
    painter.drawText(
        text, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), percent_text(whole / 100)
    )
    painter.end()
    return pixmap
