"""Paints the progress column: a slim rounded bar coloured by state, with the percentage beside it."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from app.core.models import UploadState, UploadStatus
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
    UploadState.FAILED: QColor("#d64545"),
}

BAR_HEIGHT = 6.0
TEXT_WIDTH = 44
PADDING = 8


class ProgressDelegate(QStyledItemDelegate):
    """For the progress column only; other columns keep the default painting."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        status: UploadStatus | None = index.data(STATUS_ROLE)
        if status is None:
            super().paint(painter, option, index)
            return
        fraction = float(index.data(FRACTION_ROLE) or 0.0)
        widget = option.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else QApplication.style()
        background = QStyleOptionViewItem(option)
        self.initStyleOption(background, index)
        background.text = ""
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, background, painter, widget)

        rect = option.rect.adjusted(PADDING, 0, -PADDING, 0)  # type: ignore[attr-defined]
        bar_width = max(0, rect.width() - TEXT_WIDTH - PADDING)
        bar = QRectF(rect.left(), rect.center().y() - BAR_HEIGHT / 2 + 1, bar_width, BAR_HEIGHT)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        palette: QPalette = option.palette  # type: ignore[attr-defined]

        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        track = QColor(palette.color(QPalette.ColorRole.Text))
        track.setAlphaF(0.12 if not selected else 0.25)
        painter.setBrush(track)
        painter.drawRoundedRect(bar, BAR_HEIGHT / 2, BAR_HEIGHT / 2)
        if fraction > 0:
            filled = QRectF(bar)
            filled.setWidth(max(BAR_HEIGHT, bar.width() * fraction))
            painter.setBrush(BAR_COLORS.get(status.state, BAR_COLORS[UploadState.UPLOADING]))
            painter.drawRoundedRect(filled, BAR_HEIGHT / 2, BAR_HEIGHT / 2)

        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(palette.color(role))
        text_rect = rect.adjusted(rect.width() - TEXT_WIDTH, 0, 0, 0)
        painter.drawText(
            text_rect,
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            f"{fraction * 100:.0f} %",
        )
        painter.restore()
