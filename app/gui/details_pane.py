"""The pane under the queue: the selected upload's state, key, file and link, with Copy and Open."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
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

from app.core.models import UploadState, UploadStatus
from app.gui.formatting import human_duration, human_size, human_speed
from app.gui.resources import icon
from app.gui.upload_table_model import ATTENTION_COLORS, state_text

# What the user can do about a state that waits for them.
NEXT_STEP = {
    UploadState.PAUSED: "Choose Resume to continue where it stopped.",
    UploadState.FAILED: "Choose Retry to continue where it stopped; the parts already sent are kept.",
    UploadState.NEEDS_SIGN_IN: "Sign in again (Account ▸ Sign In…): the upload then continues by itself.",
    UploadState.FILE_CHANGED: (
        "Put the original file back and choose Retry, or remove this upload and add the file again "
        "to upload it as it is now."
    ),
}


def describe(status: UploadStatus) -> str:
    """One line on where the upload stands, e.g. "Uploading — 42 % of 1.2 GB · 12 of 30 parts · 45 MB/s"."""
    pieces = [f"{state_text(status)} — {status.fraction * 100:.0f} % of {human_size(status.size)}"]
    if status.parts_total:
        pieces.append(f"{status.parts_done} of {status.parts_total} parts")
    if status.state is UploadState.DONE and status.link_verified is not None:
        pieces.append("link checked" if status.link_verified else "the link did not answer yet")
    if status.state is UploadState.UPLOADING:
        pieces += [text for text in (human_speed(status.speed), human_duration(status.eta)) if text]
        if status.eta is not None:
            pieces[-1] += " left"
    return " · ".join(pieces)


class DetailsPane(QFrame):
    """Shows one `UploadStatus`; its buttons emit `command(name, id)` and the link buttons act directly."""

    command = Signal(str, int)  # "pause" | "resume" | "retry", upload id
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
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.key_label = QLabel()
        self.path_label = QLabel()
        for label in (self.key_label, self.path_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.link_edit = QLineEdit()
        self.link_edit.setReadOnly(True)
        self.link_edit.setPlaceholderText("The link appears here when the upload is finished.")
        self.copy_button = QPushButton(icon("copy"), "Copy")
        self.open_button = QPushButton(icon("open-link"), "Open")
        self.pause_button = QPushButton(icon("pause"), "Pause")
        self.resume_button = QPushButton(icon("resume"), "Resume")
        self.retry_button = QPushButton(icon("retry"), "Retry")
        self.placeholder = QLabel("Select an upload to see its details.")
        self.placeholder.setObjectName("hint")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.copy_button.clicked.connect(lambda: self.copy_requested.emit(self.link_edit.text()))
        self.open_button.clicked.connect(lambda: self.open_requested.emit(self.link_edit.text()))
        for button, name in (
            (self.pause_button, "pause"),
            (self.resume_button, "resume"),
            (self.retry_button, "retry"),
        ):
            button.clicked.connect(lambda _=False, name=name: self._emit(name))

        top = QHBoxLayout()
        top.addWidget(self.name_label, 1)
        for button in (self.pause_button, self.resume_button, self.retry_button):
            top.addWidget(button)
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setColumnStretch(1, 1)
        for row, (caption, widget) in enumerate((("Key", self.key_label), ("File", self.path_label))):
            title = QLabel(caption)
            title.setObjectName("caption")
            grid.addWidget(title, row, 0)
            grid.addWidget(widget, row, 1)
        link_title = QLabel("Link")
        link_title.setObjectName("caption")
        link_row = QHBoxLayout()
        link_row.addWidget(self.link_edit, 1)
        link_row.addWidget(self.copy_button)
        link_row.addWidget(self.open_button)
        grid.addWidget(link_title, 2, 0)
        grid.addLayout(link_row, 2, 1)

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
        if status is None:
            return
        self.name_label.setText(status.path.name)
        self.state_label.setText(describe(status))
        color = ATTENTION_COLORS.get(status.state)
        self.state_label.setStyleSheet(f"color: {color.name()};" if color else "")
        next_step = None if status.sent_elsewhere else NEXT_STEP.get(status.state)
        advice = " ".join(text for text in (status.message, next_step) if text)
        self.message_label.setText(advice)
        self.message_label.setVisible(bool(advice))
        self.key_label.setText(status.key)
        self.path_label.setText(str(status.path))
        if self.link_edit.text() != (status.url or ""):
            self.link_edit.setText(status.url or "")
            self.link_edit.setCursorPosition(0)
        self.copy_button.setEnabled(bool(status.url))
        self.open_button.setEnabled(bool(status.url))
        self.pause_button.setVisible(status.state.is_active)
        self.resume_button.setVisible(status.state in (UploadState.PAUSED, UploadState.NEEDS_SIGN_IN))
        self.retry_button.setVisible(status.state is UploadState.FAILED)

    def _emit(self, name: str) -> None:
        if self._status is not None:
            self.command.emit(name, self._status.id)
