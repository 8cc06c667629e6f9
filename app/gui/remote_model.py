"""The table of the user's unfinished uploads on the server (from any computer), for the panel that
resumes or aborts them: name, key, size, what the server holds, when it started and when its parts go."""

from __future__ import annotations

import enum
import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from app.core.remote import RemoteUnfinished
from app.gui.formatting import added_text, human_size, moment_text, plural
from app.gui.status_text import WARNING_COLOR

Index = QModelIndex | QPersistentModelIndex
WARN_BEFORE = 24 * 3600.0  # seconds before the parts go: the expiry is shown in the warning colour


class RemoteColumn(enum.IntEnum):
    NAME = 0
    KEY = 1
    SIZE = 2
    HELD = 3
    STARTED = 4
    EXPIRES = 5
    LOCAL = 6


HEADERS = {
    RemoteColumn.NAME: "Name",
    RemoteColumn.KEY: "Key",
    RemoteColumn.SIZE: "Size",
    RemoteColumn.HELD: "On the Server",
    RemoteColumn.STARTED: "Started",
    RemoteColumn.EXPIRES: "Parts Kept Until",
    RemoteColumn.LOCAL: "File on This Computer",
}
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
RIGHT_ALIGNED = frozenset({RemoteColumn.SIZE, RemoteColumn.HELD})
UPLOAD_ROLE = int(Qt.ItemDataRole.UserRole) + 1  # the row's RemoteUnfinished


def held_text(upload: RemoteUnfinished) -> str:
    """What the server keeps of the upload: "12 parts · 60 MiB"."""
    if upload.single:
        return "nothing yet (one piece)"
    if upload.parts_held is None or upload.bytes_held is None:
        return "not counted"
    if not upload.parts_held:
        return "no parts yet"
    return f"{plural(upload.parts_held, 'part')} · {human_size(upload.bytes_held)}"


def held_amount(upload: RemoteUnfinished) -> str | None:
    """What the server holds of the upload in words, "12 parts (60 MiB)"; None when not known or none."""
    if upload.single or not upload.parts_held or upload.bytes_held is None:
        return None
    return f"{plural(upload.parts_held, 'part')} ({human_size(upload.bytes_held)})"


class RemoteUploadsModel(QAbstractTableModel):
    """The listing, newest first, as the API gave it; the expiry of each once the API's rule is known."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._uploads: list[RemoteUnfinished] = []
        self._expiry: dict[str, float] = {}  # file id → when the server deletes its parts

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._uploads)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(RemoteColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation is not Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[RemoteColumn(section)]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if section in RIGHT_ALIGNED else _LEFT
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._uploads):
            return None
        upload, column = self._uploads[index.row()], RemoteColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(upload, column)
        if role == UPLOAD_ROLE:
            return upload
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column in RIGHT_ALIGNED else _LEFT
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(upload, column)
        if role == Qt.ItemDataRole.ForegroundRole and column is RemoteColumn.EXPIRES:
            expires = self._expiry.get(upload.file_id)
            return WARNING_COLOR if expires is not None and expires - time.time() < WARN_BEFORE else None
        return None

    def _text(self, upload: RemoteUnfinished, column: RemoteColumn) -> str:
        if column is RemoteColumn.NAME:
            return upload.name
        if column is RemoteColumn.KEY:
            return upload.key
        if column is RemoteColumn.SIZE:
            return "" if upload.size is None else human_size(upload.size)
        if column is RemoteColumn.HELD:
            return held_text(upload)
        if column is RemoteColumn.STARTED:
            return "" if upload.started_at is None else added_text(upload.started_at)
        if column is RemoteColumn.EXPIRES:
            expires = self._expiry.get(upload.file_id)
            return "" if expires is None else moment_text(expires)
        return str(upload.local_path) if upload.local_path is not None else "—"

    def _tooltip(self, upload: RemoteUnfinished, column: RemoteColumn) -> str | None:
        if column is RemoteColumn.LOCAL:
            if upload.local_path is None:
                return "This computer has no record of this upload: choose Locate File… to go on with it."
            return f"Started from this computer with {upload.local_path}: Resume goes on with that file."
        if column is RemoteColumn.EXPIRES and upload.file_id in self._expiry:
            return "Unless the upload is finished before, the bucket's clean-up rule then deletes its parts."
        if column in (RemoteColumn.NAME, RemoteColumn.KEY):
            return upload.key
        return None

    # --- changes ----------------------------------------------------------------------------------

    def set_uploads(self, uploads: list[RemoteUnfinished]) -> None:
        self.beginResetModel()
        self._uploads = list(uploads)
        self.endResetModel()

    def set_expiry(self, expiry: dict[str, float]) -> None:
        """When the server deletes each upload's parts (by file id), once the API's rule is known."""
        self._expiry = dict(expiry)
        if self._uploads:
            column = RemoteColumn.EXPIRES
            self.dataChanged.emit(self.index(0, column), self.index(len(self._uploads) - 1, column))

    def uploads(self) -> list[RemoteUnfinished]:
        return list(self._uploads)

    def upload_at(self, row: int) -> RemoteUnfinished:
        return self._uploads[row]
