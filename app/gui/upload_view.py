"""The queue's table view: progress bars, a drop hint while empty, a context menu per row."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QContextMenuEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView, QWidget

from app.core.models import UploadStatus
from app.gui.actions import Actions
from app.gui.link_delegate import LinkDelegate
from app.gui.progress_delegate import ProgressDelegate
from app.gui.resources import icon
from app.gui.upload_table_model import HEADERS, STATUS_ROLE, Column, UploadTableModel

DEFAULT_WIDTHS = {
    Column.NAME: 190,
    Column.KEY: 210,
    Column.SIZE: 84,
    Column.PROGRESS: 160,
    Column.SPEED: 90,
    Column.ETA: 84,
    Column.STATE: 170,  # "Checking 12 of 40 parts…", "Paused · expires 09:00"
    Column.ADDED: 80,
    Column.API: 220,
}
HIDDEN_BY_DEFAULT = (Column.API,)


class UploadView(QTableView):
    """Shows `UploadTableModel`; `drop_active` highlights the drop hint while files are dragged over."""

    def __init__(self, model: UploadTableModel, actions: Actions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._actions = actions
        self.drop_active = False
        self.setModel(model)
        self.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(self))
        self.setItemDelegateForColumn(Column.LINK, LinkDelegate(self))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(30)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setSectionsMovable(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSortIndicator(Column.ADDED, Qt.SortOrder.AscendingOrder)
        header.setSortIndicatorClearable(False)
        for column, width in DEFAULT_WIDTHS.items():
            header.resizeSection(column, width)
        for column in HIDDEN_BY_DEFAULT:
            header.hideSection(column)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._column_menu)
        self.setSortingEnabled(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        model.rowsInserted.connect(self.viewport().update)
        model.rowsRemoved.connect(self.viewport().update)

    def selected_statuses(self) -> list[UploadStatus]:
        rows = sorted({index.row() for index in self.selectionModel().selectedRows()})
        return [self.model().index(row, 0).data(STATUS_ROLE) for row in rows]

    def set_drop_active(self, active: bool) -> None:
        self.drop_active = active
        self.viewport().update()

    # --- painting ---------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.model().rowCount() == 0 or self.drop_active:
            self._paint_drop_hint()

    def _paint_drop_hint(self) -> None:
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.viewport().rect()).adjusted(18, 18, -18, -18)
        accent = QColor("#2f7bf0")
        text_color = self.palette().color(QPalette.ColorRole.Text)
        if self.drop_active:
            fill = QColor(accent)
            fill.setAlphaF(0.08)
            painter.setBrush(fill)
            painter.setPen(QPen(accent, 2, Qt.PenStyle.DashLine))
        else:
            border = QColor(text_color)
            border.setAlphaF(0.18)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(border, 1.5, Qt.PenStyle.DashLine))
        painter.drawRoundedRect(area, 14, 14)
        if self.model().rowCount() and self.drop_active:
            painter.end()
            return

        center = area.center().toPoint()
        icon("drop").paint(painter, QRect(center - QPoint(40, 78), QSize(80, 80)))
        title = painter.font()
        title.setPointSizeF(title.pointSizeF() * 1.45)
        title.setWeight(title.Weight.DemiBold)
        painter.setFont(title)
        faded = QColor(text_color)
        faded.setAlphaF(0.8)
        painter.setPen(faded)
        line = QRect(int(area.left()), center.y() + 10, int(area.width()), 32)
        painter.drawText(line, int(Qt.AlignmentFlag.AlignCenter), "Drop files or folders here")
        body = self.font()
        painter.setFont(body)
        faded.setAlphaF(0.55)
        painter.setPen(faded)
        shortcut = self._actions.add_files.shortcut().toString()
        hint = f"or choose Add Files… ({shortcut}) — large files are fine, uploads resume after a restart"
        painter.drawText(line.translated(0, 34), int(Qt.AlignmentFlag.AlignCenter), hint)
        painter.end()

    # --- context menus ----------------------------------------------------------------------------

    def column_menu(self) -> QMenu:
        """A check box per column (but Name), to show or hide it."""
        header = self.horizontalHeader()
        menu = QMenu(self)
        for column in Column:
            if column is Column.NAME:
                continue
            action = menu.addAction(HEADERS[column])
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(column))
            action.toggled.connect(lambda shown, column=column: header.setSectionHidden(column, not shown))
        return menu

    def _column_menu(self, position: QPoint) -> None:
        menu = self.column_menu()
        menu.exec(self.horizontalHeader().mapToGlobal(position))
        menu.deleteLater()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        menu = self.context_menu(event.pos())
        if menu is not None:
            menu.exec(event.globalPos())
            menu.deleteLater()

    def context_menu(self, position: QPoint) -> QMenu | None:
        """The per-upload menu for the row at `position` (selected first, unless it already is)."""
        index = self.indexAt(position)
        if not index.isValid():
            return None
        if not self.selectionModel().isRowSelected(index.row()):
            self.selectRow(index.row())
        menu = QMenu(self)
        for action in self._actions.row_actions():
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)
        return menu
