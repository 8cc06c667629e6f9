"""Paints the Link column so that a cut link still says where it points: the scheme and host are kept
whole and the path is shortened in its middle (`https://cdn.example.com/surveys/…/DJI_0042.MP4`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem


def elide_link(url: str, metrics: QFontMetrics, width: int) -> str:
    """`url` shortened to fit `width` pixels: the path loses its middle first; only when the host alone
    does not fit is the end cut off."""
    if metrics.horizontalAdvance(url) <= width:
        return url
    parts = urlsplit(url)
    if not parts.netloc:
        return metrics.elidedText(url, Qt.TextElideMode.ElideRight, width)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme else parts.netloc
    rest = url[len(origin) :]
    room = width - metrics.horizontalAdvance(origin)
    if room < metrics.horizontalAdvance("/…") * 2:
        return metrics.elidedText(url, Qt.TextElideMode.ElideRight, width)
    return origin + metrics.elidedText(rest, Qt.TextElideMode.ElideMiddle, room)


TEXT_MARGIN = 8  # what the item view keeps free around a cell's text (focus frame and padding)


class LinkDelegate(QStyledItemDelegate):
    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        text: str = option.text  # type: ignore[attr-defined]
        if text:
            width = option.rect.width() - TEXT_MARGIN  # type: ignore[attr-defined]
            option.text = elide_link(text, option.fontMetrics, width)  # type: ignore[attr-defined]
