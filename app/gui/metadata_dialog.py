"""Before a batch starts: the metadata JSON (`pluginPayload`) with live validation, and the key template
with each file's key. Start stays disabled while anything is invalid, so nothing is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QFontDatabase, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.keys import BUILTIN_PLACEHOLDERS, KeyTemplateError, check_template, render_key
from app.core.metadata import REQUIRED_FIELDS, MetadataError, parse_metadata, validate_metadata
from app.gui.file_collector import PickedFile
from app.gui.formatting import human_size, plural
from app.gui.widgets import NoteLabel, plain_buttons

PREVIEW_LIMIT = 200  # rows shown in the key preview; every key is still checked
VALIDATION_DELAY_MS = 150


@dataclass(frozen=True)
class Batch:
    """What the user confirmed: one key per file, in the order of `files`."""

    files: list[PickedFile]
    keys: list[str]
    metadata: dict[str, Any]
    metadata_text: str
    template: str
    overwrite: bool


def _section(title: str, hint: str) -> QLabel:
    label = QLabel(f"<b>{title}</b> <span style='color:#6b7480'>— {hint}</span>")
    label.setWordWrap(True)
    return label


class MetadataDialog(QDialog):
    """Emits `accepted` with `batch()` ready once the user presses Start Upload."""

    def __init__(
        self,
        files: list[PickedFile],
        *,
        metadata_text: str,
        template: str,
        overwrite: bool,
        destination: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._files = files
        self._batch: Batch | None = None
        self._checked: tuple[dict[str, Any], list[str]] | None = None  # set by validate()
        self._now = datetime.now()
        self.setWindowTitle("Start Upload")
        self.resize(780, 640)

        total = sum(f.size for f in files)
        header = QLabel(
            f"<b style='font-size:14pt'>Upload {plural(len(files), 'file')}</b>"
            f"<br><span style='color:#6b7480'>{human_size(total)} to {destination}</span>"
        )

        self.editor = QPlainTextEdit()
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.setPlaceholderText('{"organizationId": "org-1", "objectRecordId": "rec-1"}')
        self.editor.setTabChangesFocus(True)
        self.editor.setPlainText(metadata_text)
        self.metadata_note = NoteLabel()

        self.template_edit = QLineEdit(template)
        self.template_edit.setPlaceholderText("{filename}")
        placeholders = " ".join(f"{{{name}}}" for name in BUILTIN_PLACEHOLDERS)
        template_hint = QLabel(
            f"Placeholders: {placeholders}, or any metadata field such as {{objectRecordId}}."
        )
        template_hint.setObjectName("hint")
        template_hint.setWordWrap(True)

        self.preview = QTreeWidget()
        self.preview.setHeaderLabels(["File", "Key"])
        self.preview.setRootIsDecorated(False)
        self.preview.setUniformRowHeights(True)
        self.preview.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.preview.header().setStretchLastSection(True)
        self.key_note = NoteLabel()

        self.overwrite_box = QCheckBox("Replace objects that already exist at these keys")
        self.overwrite_box.setChecked(overwrite)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = self.buttons.addButton("Start Upload", QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_button.setDefault(True)
        plain_buttons(self.buttons)
        self.buttons.accepted.connect(self._start)
        self.buttons.rejected.connect(self.reject)

        required = ", ".join(REQUIRED_FIELDS)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addWidget(header)
        layout.addSpacing(6)
        layout.addWidget(_section("Metadata", f"the JSON object sent with every file; required: {required}"))
        layout.addWidget(self.editor, 2)
        layout.addWidget(self.metadata_note)
        layout.addSpacing(6)
        layout.addWidget(_section("Object key", "where each file goes in the bucket"))
        layout.addWidget(self.template_edit)
        layout.addWidget(template_hint)
        layout.addWidget(self.preview, 3)
        layout.addWidget(self.key_note)
        layout.addWidget(self.overwrite_box)
        layout.addWidget(self.buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(VALIDATION_DELAY_MS)
        self._timer.timeout.connect(self.validate)
        self.editor.textChanged.connect(self._timer.start)
        self.template_edit.textChanged.connect(self._timer.start)
        self.validate()

    # --- validation -------------------------------------------------------------------------------

    def validate(self) -> bool:
        """Check the metadata and every key now; update the messages, highlights and Start button."""
        self._timer.stop()
        text = self.editor.toPlainText()
        problems = validate_metadata(text)
        self._highlight(problems)
        metadata = parse_metadata(text) if not problems else None
        if problems:
            self.metadata_note.show_error("\n".join(problem.message for problem in problems))
        else:
            self.metadata_note.show_success("The metadata is valid.")
        keys = self._render_keys(metadata)
        self._checked = (metadata, keys) if metadata is not None and keys is not None else None
        self.start_button.setEnabled(self._checked is not None)
        return self._checked is not None

    def _highlight(self, problems: list[MetadataError]) -> None:
        selections: list[QTextEdit.ExtraSelection] = []
        for problem in problems:
            if problem.line is None:
                continue
            block = self.editor.document().findBlockByNumber(problem.line - 1)
            if not block.isValid():
                continue
            line = QTextEdit.ExtraSelection()
            line.format.setBackground(QColor(214, 69, 69, 40))
            line.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            line.cursor = QTextCursor(block)
            selections.append(line)
            spot = QTextEdit.ExtraSelection()
            spot.format.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            spot.format.setUnderlineColor(QColor("#d64545"))
            spot.format.setBackground(QColor(214, 69, 69, 90))
            cursor = QTextCursor(block)
            column = max(0, min((problem.column or 1) - 1, block.length() - 2))
            cursor.setPosition(block.position() + column)
            cursor.movePosition(QTextCursor.MoveOperation.NextCharacter, QTextCursor.MoveMode.KeepAnchor)
            spot.cursor = cursor
            selections.append(spot)
        self.editor.setExtraSelections(selections)

    def _render_keys(self, metadata: dict[str, Any] | None) -> list[str] | None:
        """Every file's key, or None (with the reason shown) when any cannot be made or two collide."""
        template = self.template_edit.text().strip()
        self.preview.clear()
        try:
            if metadata is None:
                check_template(template)
                self.key_note.show_info("Fix the metadata to see each file's key.")
                return None
            keys = [
                render_key(template, f.path, root=f.root, metadata=metadata, now=self._now)
                for f in self._files
            ]
        except KeyTemplateError as error:
            self.key_note.show_error(error.message)
            return None
        items = [QTreeWidgetItem([str(_relative(f)), key]) for f, key in zip(self._files, keys, strict=True)]
        self.preview.addTopLevelItems(items[:PREVIEW_LIMIT])
        if len(items) > PREVIEW_LIMIT:
            self.preview.addTopLevelItem(QTreeWidgetItem([f"… and {len(items) - PREVIEW_LIMIT} more", ""]))
        duplicate = _first_duplicate(keys)
        if duplicate is not None:
            self.key_note.show_error(
                f"Several files would get the key “{duplicate}”. Use {{relpath}} in the template to keep "
                "each file's folder in its key."
            )
            return None
        self.key_note.clear_note()
        return keys

    # --- result -----------------------------------------------------------------------------------

    def _start(self) -> None:
        if not self.validate() or self._checked is None:
            return
        metadata, keys = self._checked
        self._batch = Batch(
            files=self._files,
            keys=keys,
            metadata=metadata,
            metadata_text=self.editor.toPlainText(),
            template=self.template_edit.text().strip(),
            overwrite=self.overwrite_box.isChecked(),
        )
        self.accept()

    def batch(self) -> Batch | None:
        """The confirmed batch, or None when the dialog was cancelled."""
        return self._batch


def _relative(picked: PickedFile) -> str:
    try:
        return picked.path.relative_to(picked.root).as_posix()
    except ValueError:
        return picked.path.name


def _first_duplicate(keys: list[str]) -> str | None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    return None
