"""The upload queue as a Qt table model: one row per upload, updated a batch of rows at a time.

Rows are kept in the order the user chose (by time added unless a header was clicked). Each row keeps
its display texts, computed once per update rather than on every paint, and the progress it shows never
goes backwards: when a pause drops the bytes of parts in flight, the row keeps showing the most it had
shown until the upload passes that point again (only a restart from the first byte lowers it).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from app.core.models import UploadState, UploadStatus
from app.gui.formatting import added_text, human_duration, human_size, human_speed, percent_text
from app.gui.status_text import attention_color, shows_progress, state_text, state_tip, waits_for_resume

Index = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    NAME = 0
    KEY = 1
    SIZE = 2
    PROGRESS = 3
    SPEED = 4
    ETA = 5
    STATE = 6
    ADDED = 7
    API = 8
    LINK = 9


HEADERS = {
    Column.NAME: "Name",
    Column.KEY: "Key",
    Column.SIZE: "Size",
    Column.PROGRESS: "Progress",
    Column.SPEED: "Speed",
    Column.ETA: "Time Left",
    Column.STATE: "Status",
    Column.ADDED: "Added",
    Column.API: "API",
    Column.LINK: "Link",
}

STATUS_ROLE = int(Qt.ItemDataRole.UserRole) + 1  # the row's UploadStatus (progress as shown)
ID_ROLE = int(Qt.ItemDataRole.UserRole) + 2  # the upload's id (int)
FRACTION_ROLE = int(Qt.ItemDataRole.UserRole) + 3  # progress from 0.0 to 1.0, None: no bar

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
RIGHT_ALIGNED = frozenset({Column.SIZE, Column.SPEED, Column.ETA})
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
# Columns whose value moves while an upload runs: sorting by them re-sorts after each batch of updates.
_MOVING = frozenset({Column.PROGRESS, Column.SPEED, Column.ETA, Column.STATE, Column.LINK})

_SORT_KEYS: dict[Column, Callable[[UploadStatus], Any]] = {
    Column.NAME: lambda s: s.path.name.casefold(),
    Column.KEY: lambda s: s.key,
    Column.SIZE: lambda s: s.size,
    Column.PROGRESS: lambda s: s.fraction,
    Column.SPEED: lambda s: s.speed,
    Column.ETA: lambda s: math.inf if s.eta is None else s.eta,
    Column.STATE: state_text,
    Column.ADDED: lambda s: s.id,  # journal ids grow in the order uploads were added
    Column.API: lambda s: s.api_url,
    Column.LINK: lambda s: s.url or "",
}


@dataclass(frozen=True)
class Summary:
    """What the status bar says about the queue. Byte figures cover the uploads not finished yet."""

    total: int
    active: int  # queued, uploading or finalizing
    paused: int  # paused or waiting for sign-in
    attention: int  # failed or whose file changed
    done: int
    cancelled: int
    size: int  # bytes of the uploads not done or cancelled
    sent: int  # of those, bytes already sent (as shown)
    speed: float  # bytes per second, all uploads together
    eta: float | None
    resumable: int  # that resume_all would continue (paused, failed, waiting for sign-in)


class _Tally:
    """The status bar's sums, kept up to date row by row (a queue of 10,000 uploads is not re-read on
    every update)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(
            ("total", "active", "paused", "attention", "done", "cancelled", "resumable"), 0
        )
        self.size = self.sent = self.remaining = 0
        self.speed = 0.0

    def count(self, status: UploadStatus, sign: int) -> None:
        """Add (`sign` 1) or take away (-1) one row's part of the sums."""
        state, counts = status.state, self.counts
        counts["total"] += sign
        if state is UploadState.DONE or state is UploadState.CANCELLED:
            counts["done" if state is UploadState.DONE else "cancelled"] += sign
            return
        sent = min(status.bytes_done, status.size)
        self.size += sign * status.size
        self.sent += sign * sent
        counts["resumable"] += sign * state.can_resume
        if state.is_active:
            counts["active"] += sign
            self.speed += sign * status.speed
            self.remaining += sign * (status.size - sent)
        elif waits_for_resume(status):
            counts["paused"] += sign
        else:
            counts["attention"] += sign

    def summary(self) -> Summary:
        c = self.counts
        speed = max(0.0, self.speed) if c["active"] else 0.0  # float sums can leave a hair off zero
        eta = self.remaining / speed if speed > 0 else None
        return Summary(
            c["total"], c["active"], c["paused"], c["attention"], c["done"], c["cancelled"],
            self.size, self.sent, speed, eta, c["resumable"],
        )  # fmt: skip


def show_monotonic(old: UploadStatus | None, new: UploadStatus) -> UploadStatus:
    """`new` as the row shows it: never fewer bytes than `old` showed, unless parts were really lost
    (a restart) or the upload was cancelled."""
    if old is None or new.bytes_done >= old.bytes_done:
        return new
    restarted = new.parts_done < old.parts_done or new.state is UploadState.CANCELLED
    if restarted:
        return new
    return replace(new, bytes_done=old.bytes_done)


class UploadTableModel(QAbstractTableModel):
    """Rows in the chosen order (time added by default); an update repaints only its own row."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[UploadStatus] = []
        self._texts: list[tuple[str, ...]] = []  # per row: the display text of each column
        self._row_of: dict[int, int] = {}
        self._forgotten: set[int] = set()
        self._tally = _Tally()
        self._sort_column = Column.ADDED
        self._sort_order = Qt.SortOrder.AscendingOrder

    # --- Qt interface -----------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is not Qt.Orientation.Horizontal:
            return None
        if role == _DISPLAY:
            return HEADERS[Column(section)]
        if role == _ALIGNMENT:
            return _RIGHT if section in RIGHT_ALIGNED else _LEFT
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row, column = index.row(), index.column()
        if not index.isValid() or not 0 <= row < len(self._rows):
            return None
        return self._value(row, column, int(role))

    def multiData(self, index: Index, span: Any) -> None:
        """Every role a view asks for one cell, in one call: a repaint calls into Python once per cell
        instead of once per role (each call may wait for the upload threads' interpreter lock)."""
        row, column = index.row(), index.column()
        if not index.isValid() or not 0 <= row < len(self._rows):
            return
        for role_data in span:
            role_data.setData(self._value(row, column, role_data.role()))

    def _value(self, row: int, column: int, role: int) -> Any:
        if role == _DISPLAY:
            return self._texts[row][column]
        status = self._rows[row]
        if role == STATUS_ROLE:
            return status
        if role == ID_ROLE:
            return status.id
        if role == FRACTION_ROLE:
            return status.fraction if shows_progress(status) else None
        if role == _ALIGNMENT:
            return _RIGHT if column in RIGHT_ALIGNED else _LEFT
        if role == _TOOLTIP:
            return _tooltip(status, Column(column))
        if role == _FOREGROUND and column == Column.STATE:
            return attention_color(status)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by `column` (a header click); rows keep that order as they change."""
        self._sort_column, self._sort_order = Column(column), order
        self._resort()

    # --- updates ----------------------------------------------------------------------------------

    def update_statuses(self, statuses: Iterable[UploadStatus]) -> None:
        """Insert new uploads in their place and refresh known ones, with one `dataChanged` over the
        rows and columns that look different.

        One signal per batch, not per row: each call into Qt lets go of the interpreter lock, and while
        the upload threads are busy, taking it back can wait a few ms (100 per-row signals measured up
        to 230 ms of wall time for 8 ms of work). A view repaints only the visible part of the span."""
        new: dict[int, UploadStatus] = {}
        rows: list[int] = []
        columns: set[Column] = set()
        for status in statuses:
            if status.id in self._forgotten:
                continue
            row = self._row_of.get(status.id)
            if row is None:
                new[status.id] = status
                continue
            old = self._rows[row]
            shown = show_monotonic(old, status)
            if shown == old:
                continue
            texts = _texts(shown)
            changed = [
                column
                for column in Column
                if texts[column] != self._texts[row][column]
                or (column is Column.PROGRESS and old.state is not shown.state)  # the bar's colour
            ]
            self._tally.count(old, -1)
            self._tally.count(shown, 1)
            self._rows[row], self._texts[row] = shown, texts
            if changed:
                rows.append(row)
                columns.update(changed)
        if rows:
            self.dataChanged.emit(self.index(min(rows), min(columns)), self.index(max(rows), max(columns)))
        if new:
            self._insert(list(new.values()))
        if self._sort_column in columns and self._sort_column in _MOVING and not self._in_order():
            self._resort()

    def forget(self, upload_ids: Iterable[int]) -> None:
        """Remove the rows and ignore late events for these uploads (they were removed from the list)."""
        ids = set(upload_ids)
        self._forgotten |= ids
        rows = sorted((self._row_of[i] for i in ids if i in self._row_of), reverse=True)
        for first, last in _runs(rows):
            self.beginRemoveRows(QModelIndex(), first, last)
            for status in self._rows[first : last + 1]:
                self._tally.count(status, -1)
            del self._rows[first : last + 1]
            del self._texts[first : last + 1]
            self.endRemoveRows()
        if rows:
            self._reindex()

    def _insert(self, statuses: list[UploadStatus]) -> None:
        key = self._key()
        statuses.sort(key=key, reverse=self._descending())
        at_end = not self._rows or self._before_or_equal(self._rows[-1], statuses[0])
        if at_end:  # the usual case (new uploads, sorted by time added): one insertion for all
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(statuses) - 1)
            self._rows.extend(statuses)
            for status in statuses:
                self._tally.count(status, 1)
            self._texts.extend(_texts(status) for status in statuses)
            for offset, status in enumerate(statuses):
                self._row_of[status.id] = first + offset
            self.endInsertRows()
            return
        for status in statuses:
            row = self._position(status)
            self.beginInsertRows(QModelIndex(), row, row)
            self._rows.insert(row, status)
            self._tally.count(status, 1)
            self._texts.insert(row, _texts(status))
            self.endInsertRows()
        self._reindex()

    # --- ordering ---------------------------------------------------------------------------------

    def _key(self) -> Callable[[UploadStatus], tuple[Any, int]]:
        by = _SORT_KEYS[self._sort_column]
        return lambda status: (by(status), status.id)

    def _descending(self) -> bool:
        return self._sort_order is Qt.SortOrder.DescendingOrder

    def _before_or_equal(self, a: UploadStatus, b: UploadStatus) -> bool:
        key = self._key()
        return key(b) <= key(a) if self._descending() else key(a) <= key(b)

    def _position(self, status: UploadStatus) -> int:
        low, high = 0, len(self._rows)
        while low < high:
            middle = (low + high) // 2
            if self._before_or_equal(self._rows[middle], status):
                low = middle + 1
            else:
                high = middle
        return low

    def _in_order(self) -> bool:
        return all(self._before_or_equal(a, b) for a, b in zip(self._rows, self._rows[1:], strict=False))

    def _resort(self) -> None:
        self.layoutAboutToBeChanged.emit()
        old_ids = [status.id for status in self._rows]
        order = sorted(range(len(self._rows)), key=lambda r: self._key()(self._rows[r]))
        if self._descending():
            order.reverse()
        self._rows = [self._rows[r] for r in order]
        self._texts = [self._texts[r] for r in order]
        self._reindex()
        persistent = self.persistentIndexList()
        moved = [self.index(self._row_of[old_ids[i.row()]], i.column()) for i in persistent]
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def _reindex(self) -> None:
        self._row_of = {status.id: row for row, status in enumerate(self._rows)}

    # --- queries ----------------------------------------------------------------------------------

    def status(self, upload_id: int) -> UploadStatus | None:
        row = self._row_of.get(upload_id)
        return None if row is None else self._rows[row]

    def status_at(self, row: int) -> UploadStatus:
        return self._rows[row]

    def row_of(self, upload_id: int) -> int | None:
        return self._row_of.get(upload_id)

    def statuses(self) -> list[UploadStatus]:
        return list(self._rows)

    def summary(self) -> Summary:
        """Counts by state and the byte sums of the unfinished uploads, as shown (kept up to date)."""
        return self._tally.summary()


def _runs(descending_rows: list[int]) -> list[tuple[int, int]]:
    """Consecutive rows grouped as (first, last), highest group first (so removals keep row numbers)."""
    runs: list[tuple[int, int]] = []
    for row in descending_rows:
        if runs and runs[-1][0] == row + 1:
            runs[-1] = (row, runs[-1][1])
        else:
            runs.append((row, row))
    return runs


def _texts(status: UploadStatus) -> tuple[str, ...]:
    moving = status.state is UploadState.UPLOADING
    return (
        status.path.name,
        status.key,
        human_size(status.size),
        percent_text(status.fraction) if shows_progress(status) else "",
        human_speed(status.speed) if moving else "",
        human_duration(status.eta) if moving else "",
        state_text(status),
        added_text(status.created_at),
        status.api_url,
        status.url or "",
    )


def _tooltip(status: UploadStatus, column: Column) -> str | None:
    if column in (Column.NAME, Column.KEY, Column.API):
        return f"{status.path}\nKey: {status.key}\nAPI: {status.api_url}"
    if column is Column.STATE:
        return state_tip(status)
    if column is Column.PROGRESS and status.parts_total:
        return f"{status.parts_done:,} of {status.parts_total:,} parts sent"
    if column is Column.LINK and status.url:
        return status.url
    return None
