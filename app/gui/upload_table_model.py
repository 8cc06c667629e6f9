"""The upload queue as a Qt table model: one row per upload, updated one row at a time."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from app.core.models import UploadState, UploadStatus
from app.gui.formatting import human_duration, human_size, human_speed

Index = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    NAME = 0
    SIZE = 1
    PROGRESS = 2
    SPEED = 3
    ETA = 4
    STATE = 5
    LINK = 6


HEADERS = {
    Column.NAME: "Name",
    Column.SIZE: "Size",
    Column.PROGRESS: "Progress",
    Column.SPEED: "Speed",
    Column.ETA: "Time Left",
    Column.STATE: "Status",
    Column.LINK: "Link",
}

STATUS_ROLE = int(Qt.ItemDataRole.UserRole) + 1  # the row's UploadStatus
ID_ROLE = int(Qt.ItemDataRole.UserRole) + 2  # the upload's id (int)
FRACTION_ROLE = int(Qt.ItemDataRole.UserRole) + 3  # progress from 0.0 to 1.0

# States whose text stands out: they wait for the user.
ATTENTION_COLORS = {
    UploadState.FAILED: QColor("#c62f2f"),
    UploadState.FILE_CHANGED: QColor("#b86200"),
    UploadState.NEEDS_SIGN_IN: QColor("#b86200"),
}

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT_ALIGNED = (Column.SIZE, Column.SPEED, Column.ETA)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)


@dataclass(frozen=True)
class Totals:
    """What the status bar sums up over the queue."""

    files: int
    active: int  # queued, uploading or finalizing
    size: int  # bytes of the unfinished and active uploads
    done: int  # bytes of those already sent
    speed: float  # bytes per second, all uploads together
    eta: float | None


SENT_ELSEWHERE = "Sent elsewhere"  # another s3up window or command is sending it


def state_text(status: UploadStatus) -> str:
    """The status cell: the state's word, with a hint when a finished link could not be checked."""
    if status.state is UploadState.DONE and status.link_verified is False:
        return "Done (link unchecked)"
    if status.state is UploadState.UPLOADING and status.bytes_done == 0:
        return "Starting…"  # waiting for a connection, or the upload is being set up
    if status.sent_elsewhere:
        return SENT_ELSEWHERE
    return status.state.label


class UploadTableModel(QAbstractTableModel):
    """Rows keep their order of arrival; an update repaints only its own row."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[UploadStatus] = []
        self._cells: list[list[dict[int, Any]]] = []  # per row and column: role → value, made on update
        self._row_of: dict[int, int] = {}
        self._forgotten: set[int] = set()

    # --- Qt interface -----------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if section in _RIGHT_ALIGNED else _LEFT
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self._cells[index.row()][index.column()].get(int(role))

    # --- updates ----------------------------------------------------------------------------------

    def update_statuses(self, statuses: Iterable[UploadStatus]) -> None:
        """Insert new uploads at the end and refresh known ones: one `dataChanged` per changed row,
        over the span of its cells that look different (so a view repaints as little as it can)."""
        for status in statuses:
            if status.id in self._forgotten:
                continue
            row = self._row_of.get(status.id)
            if row is None:
                self._append(status)
            elif self._rows[row] != status:
                old_state, new_cells = self._rows[row].state, _cells(status)
                changed = [
                    column
                    for column in Column
                    if _visible(self._cells[row][column]) != _visible(new_cells[column])
                    or (column is Column.PROGRESS and old_state is not status.state)  # the bar's colour
                ]
                self._rows[row], self._cells[row] = status, new_cells
                if changed:  # one signal for the row, spanning only the cells that look different
                    self.dataChanged.emit(self.index(row, changed[0]), self.index(row, changed[-1]))

    def forget(self, upload_id: int) -> None:
        """Remove the row and ignore late events for this upload (it was removed from the list)."""
        self._forgotten.add(upload_id)
        row = self._row_of.get(upload_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        del self._cells[row]
        self._row_of = {status.id: position for position, status in enumerate(self._rows)}
        self.endRemoveRows()

    def _append(self, status: UploadStatus) -> None:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(status)
        self._cells.append(_cells(status))
        self._row_of[status.id] = row
        self.endInsertRows()

    # --- queries ----------------------------------------------------------------------------------

    def status(self, upload_id: int) -> UploadStatus | None:
        row = self._row_of.get(upload_id)
        return None if row is None else self._rows[row]

    def status_at(self, row: int) -> UploadStatus:
        return self._rows[row]

    def statuses(self) -> list[UploadStatus]:
        return list(self._rows)

    def totals(self) -> Totals:
        """Sums over the uploads that are not finished yet (done ones only count as files)."""
        pending = [s for s in self._rows if not s.state.is_finished]
        active = [s for s in pending if s.state.is_active]
        size = sum(s.size for s in pending)
        done = sum(min(s.bytes_done, s.size) for s in pending)
        speed = sum(s.speed for s in active)
        remaining = sum(s.size - min(s.bytes_done, s.size) for s in active)
        eta = remaining / speed if active and speed > 0 else None
        return Totals(files=len(self._rows), active=len(active), size=size, done=done, speed=speed, eta=eta)


def _cells(status: UploadStatus) -> list[dict[int, Any]]:
    """Every role's value for each column of this status, computed once per update (not per paint)."""
    cells = []
    for column in Column:
        cell: dict[int, Any] = {
            _DISPLAY: _display(status, column),
            _ALIGNMENT: _RIGHT if column in _RIGHT_ALIGNED else _LEFT,
            STATUS_ROLE: status,
            ID_ROLE: status.id,
            FRACTION_ROLE: status.fraction,
        }
        tooltip = _tooltip(status, column)
        if tooltip:
            cell[_TOOLTIP] = tooltip
        if column is Column.STATE and status.state in ATTENTION_COLORS:
            cell[_FOREGROUND] = ATTENTION_COLORS[status.state]
        cells.append(cell)
    return cells


def _visible(cell: dict[int, Any]) -> dict[int, Any]:
    return {role: value for role, value in cell.items() if role != STATUS_ROLE}


def _display(status: UploadStatus, column: Column) -> str:
    moving = status.state is UploadState.UPLOADING
    if column is Column.NAME:
        return status.path.name
    if column is Column.SIZE:
        return human_size(status.size)
    if column is Column.PROGRESS:
        return f"{status.fraction * 100:.0f} %"
    if column is Column.SPEED:
        return human_speed(status.speed) if moving else ""
    if column is Column.ETA:
        return human_duration(status.eta) if moving else ""
    if column is Column.STATE:
        return state_text(status)
    return status.url or ""


def _tooltip(status: UploadStatus, column: Column) -> str | None:
    if column is Column.NAME:
        return f"{status.path}\nKey: {status.key}"
    if column is Column.STATE:
        return status.message
    if column is Column.PROGRESS and status.parts_total:
        return f"{status.parts_done} of {status.parts_total} parts"
    if column is Column.LINK and status.url:
        return status.url
    return None
