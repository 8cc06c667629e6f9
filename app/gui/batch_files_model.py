"""The Start dialog's list of files: name, size, key and whether the key is taken, for any number of files."""

from __future__ import annotations

import enum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from app.core.folders import FoundFile
from app.gui.formatting import human_size

Index = QModelIndex | QPersistentModelIndex
WARNING_COLOR = QColor("#c46a00")


class BatchColumn(enum.IntEnum):
    FILE = 0
    SIZE = 1
    KEY = 2
    NOTE = 3


_HEADERS = ("File", "Size", "Key", "")


class BatchFilesModel(QAbstractTableModel):
    """The files of a batch, with their keys once known and a note on keys that are taken."""

    def __init__(self, files: list[FoundFile], parent: Any = None) -> None:
        super().__init__(parent)
        self._files = list(files)
        self._keys: list[str] | None = None
        self._notes: dict[str, str] = {}  # key → why it is taken

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._files)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(BatchColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _HEADERS[section]
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.TextAlignmentRole:
            return _alignment(section)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        found, column = self._files[index.row()], index.column()
        key = self._keys[index.row()] if self._keys is not None else None
        if role == Qt.ItemDataRole.DisplayRole:
            if column == BatchColumn.FILE:
                return found.relpath  # its path from the folder it was added with
            if column == BatchColumn.SIZE:
                return human_size(found.size)
            if column == BatchColumn.KEY:
                return key if key is not None else "—"
            return self._notes.get(key, "") if key is not None else ""
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _alignment(column)
        if role == Qt.ItemDataRole.ForegroundRole and column == BatchColumn.NOTE:
            return WARNING_COLOR
        if role == Qt.ItemDataRole.ToolTipRole and column == BatchColumn.FILE:
            return str(found.path)
        return None

    # --- changes ----------------------------------------------------------------------------------

    @property
    def files(self) -> list[FoundFile]:
        return list(self._files)

    def set_keys(self, keys: list[str] | None) -> None:
        self._keys = keys
        self._changed(BatchColumn.KEY, BatchColumn.NOTE)

    def set_notes(self, notes: dict[str, str]) -> None:
        self._notes = notes
        self._changed(BatchColumn.NOTE, BatchColumn.NOTE)

    def remove_rows(self, rows: list[int]) -> None:
        """Take these files out of the batch."""
        for row in sorted(set(rows), reverse=True):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._files[row]
            if self._keys is not None:
                del self._keys[row]
            self.endRemoveRows()

    def _changed(self, first: BatchColumn, last: BatchColumn) -> None:
        if self._files:
            self.dataChanged.emit(self.index(0, first), self.index(len(self._files) - 1, last))


def _alignment(column: int) -> Qt.AlignmentFlag:
    side = Qt.AlignmentFlag.AlignRight if column == BatchColumn.SIZE else Qt.AlignmentFlag.AlignLeft
    return side | Qt.AlignmentFlag.AlignVCenter
