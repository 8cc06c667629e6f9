"""The pane under the queue: the selected upload's state, key, API, file and link, with its commands.

The pane is never shorter than its content at its current width (a message that wraps to two lines
makes it taller), so the link row at its bottom is never cut off.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.models import UploadStatus
from app.gui.resources import icon
from app.gui.status_text import advice, attention_color, can_retry, describe, is_conflict, waits_for_resume


class DetailsPane(QFrame):
    """Shows one `UploadStatus`; its buttons emit `command(name, id)` and the link buttons act directly.

    Command names: "pause", "resume", "retry", "overwrite", "change_key".
    """

    command = Signal(str, int)
    copy_requested = Signal(str)
    open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("details")
        self._status: UploadStatus | None = None

        self.name_label = QLabel()
        self.name_label.setObjectName("detailsTitle")
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key_label = QLabel()
        self.api_label = QLabel()
        self.path_label = QLabel()
        for label in (self.key_label, self.api_label, self.path_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
        self.link_edit = QLineEdit()
        self.link_edit.setReadOnly(True)
        self.link_edit.setPlaceholderText("The link appears here when the upload is finished.")
        self.copy_button = QPushButton(icon("copy"), "Copy")
        self.open_button = QPushButton(icon("open-link"), "Open")
        self.pause_button = QPushButton(icon("pause"), "Pause")
        self.resume_button = QPushButton(icon("resume"), "Resume")
        self.retry_button = QPushButton(icon("retry"), "Retry")
        self.overwrite_button = QPushButton(icon("overwrite"), "Overwrite")
        self.change_key_button = QPushButton(icon("change-key"), "Change Key…")
        self.placeholder = QLabel("Select an upload to see its details.")
        self.placeholder.setObjectName("hint")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.copy_button.clicked.connect(lambda: self.copy_requested.emit(self.link_edit.text()))
        self.open_button.clicked.connect(lambda: self.open_requested.emit(self.link_edit.text()))
        self._commands = {
            "pause": self.pause_button,
            "resume": self.resume_button,
            "retry": self.retry_button,
            "overwrite": self.overwrite_button,
            "change_key": self.change_key_button,
        }
        for name, button in self._commands.items():
            button.clicked.connect(lambda _=False, name=name: self._emit(name))

        top = QHBoxLayout()
        top.addWidget(self.name_label, 1)
        for button in self._commands.values():
            top.addWidget(button)
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setColumnStretch(1, 1)
        rows = (("Key", self.key_label), ("API", self.api_label), ("File", self.path_label))
        for row, (caption, widget) in enumerate(rows):
            grid.addWidget(_caption(caption), row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(widget, row, 1)
        link_row = QHBoxLayout()
        link_row.addWidget(self.link_edit, 1)
        link_row.addWidget(self.copy_button)
        link_row.addWidget(self.open_button)
        grid.addWidget(_caption("Link"), len(rows), 0)
        grid.addLayout(link_row, len(rows), 1)

        self.content = QWidget()
        content_layout = QVBoxLayout(self.content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.setSpacing(6)
        content_layout.addLayout(top)
        content_layout.addWidget(self.state_label)
        content_layout.addWidget(self.message_label)
        content_layout.addLayout(grid)
        content_layout.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        layout.addWidget(self.content)
        layout.addWidget(self.placeholder)
        self.show_status(None)

    def current_id(self) -> int | None:
        return None if self._status is None else self._status.id

    def show_status(self, status: UploadStatus | None) -> None:
        """Show this upload (None: the placeholder)."""
        self._status = status
        self.content.setVisible(status is not None)
        self.placeholder.setVisible(status is None)
        if status is not None:
            self._fill(status)
        self._fit_height()

    def _fill(self, status: UploadStatus) -> None:
        self.name_label.setText(status.path.name)
        self.state_label.setText(describe(status))
        color = attention_color(status)
        self.state_label.setStyleSheet(f"color: {color.name()};" if color else "")
        text = advice(status)
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))
        self.key_label.setText(status.key)
        self.api_label.setText(status.api_url)
        self.path_label.setText(str(status.path))
        if self.link_edit.text() != (status.url or ""):
            self.link_edit.setText(status.url or "")
            self.link_edit.setCursorPosition(0)
        self.copy_button.setEnabled(bool(status.url))
        self.open_button.setEnabled(bool(status.url))
        conflicted = is_conflict(status)
        self.pause_button.setVisible(status.state.is_active)
        self.resume_button.setVisible(waits_for_resume(status))
        self.retry_button.setVisible(can_retry(status))
        self.overwrite_button.setVisible(conflicted)
        self.change_key_button.setVisible(conflicted)

    # --- height -----------------------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self._fit_height()

    def _fit_height(self) -> None:
        """Be at least as tall as the content needs at this width (wrapped labels included)."""
        layout = self.layout()
        needed = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else -1
        self.setMinimumHeight(max(needed, layout.totalMinimumSize().height()))

    def _emit(self, name: str) -> None:
        if self._status is not None:
            self.command.emit(name, self._status.id)


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("caption")
    return label
