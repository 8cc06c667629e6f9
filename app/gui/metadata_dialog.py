"""Before a batch starts: the metadata JSON (`pluginPayload`) with live validation, the key template, and
the files with their sizes and keys (one can be left out). Keys already taken at this API are marked.
Start stays disabled while anything is invalid, so nothing is sent."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QColor,
    QFontDatabase,
    QKeySequence,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.core.folders import FoundFile
from app.core.keys import BUILTIN_PLACEHOLDERS, KeyTemplateError, check_template, render_key
from app.core.metadata import REQUIRED_FIELDS, MetadataError, parse_metadata, validate_metadata
from app.core.models import UploadRequest, UploadStatus
from app.gui.batch_files_model import BatchColumn, BatchFilesModel
from app.gui.bridge import UploadBridge
from app.gui.formatting import human_size, plural
from app.gui.key_check import cdn_base, existing_keys, recently_uploaded
from app.gui.resources import icon
from app.gui.widgets import NoteLabel, breaking_at_spaces, hint_label, plain_buttons, plain_table

VALIDATION_DELAY_MS = 150
SYNC_KEY_LIMIT = 300  # more files than this: their keys are worked out off the GUI thread
HISTORY_FOR_KEYS = 2000  # finished uploads looked at for keys just uploaded


@dataclass(frozen=True)
class Batch:
    """What the user confirmed: one key per file, in the order of `files`."""

    files: list[FoundFile]
    keys: list[str]
    metadata: dict[str, Any]
    metadata_text: str
    template: str
    overwrite: bool

    def requests(self, api_url: str, cdn_base_url: str | None, *, accelerate: bool) -> list[UploadRequest]:
        """One upload request per file, to the API the user is signed in to."""
        return [
            UploadRequest(
                path=found.path,
                api_url=api_url,
                key=key,
                metadata=self.metadata,
                overwrite=self.overwrite,
                accelerate=accelerate,
                cdn_base_url=cdn_base_url,
            )
            for found, key in zip(self.files, self.keys, strict=True)
        ]


def _section(title: str, hint: str) -> QLabel:
    label = QLabel(f"<b>{title}</b> — {html.escape(breaking_at_spaces(hint))}")
    label.setWordWrap(True)
    return label


class MetadataDialog(QDialog):
    """Emits `accepted` with `batch()` ready once the user presses Start Upload."""

    def __init__(
        self,
        files: list[FoundFile],
        *,
        metadata_text: str,
        template: str,
        destination: str,
        bridge: UploadBridge | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """With `bridge`, a large batch's keys are worked out off the GUI thread (else right here)."""
        super().__init__(parent)
        self._batch: Batch | None = None
        self._checked: tuple[dict[str, Any], list[str]] | None = None  # set once everything is valid
        self._now = datetime.now()
        self._destination = destination
        self._touched = False  # the user has edited the metadata: its errors may be shown
        self._bridge = bridge
        self._generation = 0  # bumped on every validation; late key results of older ones are dropped
        self._recent: dict[str, float] = {}  # key → when it was uploaded to this API
        self._cdn_base = ""
        self._existing: set[str] = set()
        self.setWindowTitle("Start Upload")
        self.resize(820, 700)

        self.header = QLabel()
        self.editor = QPlainTextEdit()
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.setPlaceholderText('{"organizationId": "org-1", "objectRecordId": "rec-1"}')
        self.editor.setTabChangesFocus(True)
        self.editor.setPlainText(metadata_text)
        self.metadata_note = NoteLabel(reserve_lines=2)

        self.template_edit = QLineEdit(template)
        self.template_edit.setPlaceholderText("{filename}")
        placeholders = " ".join(f"{{{name}}}" for name in BUILTIN_PLACEHOLDERS)
        template_hint = hint_label(
            f"Placeholders: {placeholders}, or any metadata field such as {{objectRecordId}}."
        )

        self.files_model = BatchFilesModel(files, self)
        self.files_view = plain_table(QTableView(), row_height=24)
        self.files_view.setModel(self.files_model)
        columns = self.files_view.horizontalHeader()
        for column, width in ((BatchColumn.FILE, 220), (BatchColumn.SIZE, 80), (BatchColumn.KEY, 340)):
            columns.resizeSection(column, width)
        self.remove_button = QPushButton(icon("remove"), "Remove from Batch")
        self.remove_button.setToolTip("Leave the selected files out of this upload (Delete)")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self.remove_selected)
        remove_shortcut = QAction(self.files_view)
        remove_shortcut.setShortcut(QKeySequence.StandardKey.Delete)
        remove_shortcut.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        remove_shortcut.triggered.connect(self.remove_selected)
        self.files_view.addAction(remove_shortcut)
        self.files_view.selectionModel().selectionChanged.connect(
            lambda: self.remove_button.setEnabled(self.files_view.selectionModel().hasSelection())
        )
        self.key_note = NoteLabel(reserve_lines=2)

        # unticked for every batch: replacing objects is never carried over from an earlier one
        self.overwrite_box = QCheckBox("Replace objects that already exist at these keys")
        self.overwrite_box.toggled.connect(self._show_taken)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = self.buttons.addButton("Start Upload", QDialogButtonBox.ButtonRole.AcceptRole)
        plain_buttons(self.buttons)
        for button in self.buttons.buttons():
            button.setAutoDefault(False)
        self.start_button.setDefault(True)
        self.buttons.accepted.connect(self._start)
        self.buttons.rejected.connect(self.reject)

        required = ", ".join(REQUIRED_FIELDS)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addWidget(self.header)
        layout.addSpacing(6)
        layout.addWidget(_section("Metadata", f"the JSON object sent with every file; required: {required}"))
        layout.addWidget(self.editor, 2)
        layout.addWidget(self.metadata_note)
        layout.addSpacing(6)
        layout.addWidget(_section("Object key", "where each file goes in the bucket"))
        layout.addWidget(self.template_edit)
        layout.addWidget(template_hint)
        layout.addWidget(self.files_view, 3)
        below = QHBoxLayout()
        below.addWidget(self.overwrite_box, 1)
        below.addWidget(self.remove_button)
        layout.addLayout(below)
        layout.addWidget(self.key_note)
        layout.addWidget(self.buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(VALIDATION_DELAY_MS)
        self._timer.timeout.connect(self.validate)
        self.editor.textChanged.connect(self._edited)
        self.template_edit.textChanged.connect(self._timer.start)
        self._update_header()
        self.validate()

    # --- key checks ------------------------------------------------------------------------------

    def check_keys_against(self, api_url: str, cdn_base_url: str) -> None:
        """Flag the keys already taken at `api_url`: just uploaded (the journal), or answering at the CDN
        (needs the bridge)."""
        bridge = self._bridge
        if bridge is None:
            return

        def history_loaded(history: list[UploadStatus]) -> None:
            self._recent = recently_uploaded(history, api_url)
            self._cdn_base = cdn_base(cdn_base_url, history, api_url)
            self.validate()

        bridge.recent_keys(HISTORY_FOR_KEYS, history_loaded, owner=self)

    def _ask_cdn(self, keys: list[str]) -> None:
        if self._bridge is None or not self._cdn_base:
            return
        base, generation = self._cdn_base, self._generation

        def found(existing: set[str]) -> None:
            if generation == self._generation:
                self._existing = existing
                self._show_taken()

        self._bridge.submit(lambda: existing_keys(base, keys), on_result=found, owner=self)

    # --- validation -------------------------------------------------------------------------------

    def _edited(self) -> None:
        self._touched = True
        self._timer.start()

    def validate(self) -> bool:
        """Check the metadata now and work out every key (off the GUI thread for a large batch); update
        the messages, highlights and Start button. True when the batch can start as it is."""
        self._timer.stop()
        self._generation += 1
        self._checked = None
        self.start_button.setEnabled(False)
        text = self.editor.toPlainText()
        problems = validate_metadata(text)
        self._highlight(problems if self._touched else [])
        metadata = parse_metadata(text) if not problems else None
        if not problems:
            self.metadata_note.show_success("The metadata is valid.")
        elif self._touched:
            self.metadata_note.show_error("\n".join(problem.message for problem in problems))
        else:
            self.metadata_note.show_info(
                f"Type the metadata: a JSON object with {', '.join(REQUIRED_FIELDS)}, and any other fields "
                "your organisation needs."
            )
        template = self.template_edit.text().strip()
        files = self.files_model.files
        if self._bridge is not None and len(files) > SYNC_KEY_LIMIT:
            self.key_note.show_info(f"Working out {plural(len(files), 'key')}…")
            generation, now = self._generation, self._now
            self._bridge.submit(
                lambda: _render_keys(template, files, metadata, now),
                on_result=lambda result: self._keys_ready(generation, metadata, result),
                owner=self,
            )
            return False
        keys = _render_keys(template, files, metadata, self._now)
        return self._keys_ready(self._generation, metadata, keys)

    def _keys_ready(self, generation: int, metadata: dict[str, Any] | None, result: _Keys) -> bool:
        if generation != self._generation:
            return False  # the text changed since: a newer result is coming
        keys, problem = result
        self.files_model.set_keys(keys)
        if problem:
            self.key_note.show_error(problem)
            return False
        if keys is None or metadata is None:
            self.key_note.show_info("Each file's key appears here once the metadata is valid.")
            return False
        if not keys:
            self.key_note.show_info("There are no files left in this batch.")
            return False
        self._checked = (metadata, keys)
        self.start_button.setEnabled(True)
        self._existing = set()
        self._show_taken()
        self._ask_cdn(keys)
        return True

    def _show_taken(self) -> None:
        """Mark the keys already taken, and say what will happen to them."""
        if self._checked is None:
            return
        keys = self._checked[1]
        notes = {key: _when(self._recent[key], self._now) for key in keys if key in self._recent}
        notes.update({key: "Exists already" for key in keys if key in self._existing and key not in notes})
        self.files_model.set_notes(notes)
        if not notes:
            self.key_note.clear_note()
        elif self.overwrite_box.isChecked():
            self.key_note.show_warning(
                f"{plural(len(notes), 'key')} marked in the list {'is' if len(notes) == 1 else 'are'} taken "
                "already: the objects there will be replaced."
            )
        else:
            self.key_note.show_warning(
                f"{plural(len(notes), 'key')} marked in the list {'is' if len(notes) == 1 else 'are'} taken "
                "already. Change the template, tick “Replace objects…”, or remove those files from the batch."
            )

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

    # --- the batch --------------------------------------------------------------------------------

    def remove_selected(self) -> None:
        """Leave the selected files out of the batch."""
        rows = [index.row() for index in self.files_view.selectionModel().selectedRows()]
        if rows:
            self.files_model.remove_rows(rows)
            self._update_header()
            self.validate()

    def _update_header(self) -> None:
        files = self.files_model.files
        self.header.setText(
            f"<b style='font-size:14pt'>Upload {plural(len(files), 'file')}</b>"
            f"<br>{human_size(sum(f.size for f in files))} to {html.escape(self._destination)}"
        )

    def _start(self) -> None:
        if self._checked is None:
            self._touched = True  # Start pressed: show what is wrong
            self.validate()
        if self._checked is None:
            return
        metadata, keys = self._checked
        self._batch = Batch(
            files=self.files_model.files,
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


_Keys = tuple[list[str] | None, str | None]  # the keys (None: not yet known), or why they cannot be made


def _render_keys(
    template: str, files: list[FoundFile], metadata: dict[str, Any] | None, now: datetime
) -> _Keys:
    """Every file's key; without valid metadata, the keys when the template needs no metadata field."""
    try:
        if metadata is None and set(check_template(template)) - set(BUILTIN_PLACEHOLDERS):
            return None, None  # it names metadata fields: keys once the metadata is valid
        keys = [render_key(template, f.path, root=f.root, metadata=metadata, now=now) for f in files]
    except KeyTemplateError as error:
        return None, error.message
    duplicate = _first_duplicate(keys)
    if duplicate is not None:
        return keys, (
            f"Several files would get the key “{duplicate}”. Use {{relpath}} in the template to keep "
            "each file's folder in its key."
        )
    return keys, None


def _when(finished_at: float, now: datetime) -> str:
    minutes = max(0, int((now.timestamp() - finished_at) // 60))
    if minutes < 1:
        return "Uploaded just now"
    if minutes < 120:
        return f"Uploaded {plural(minutes, 'minute')} ago"
    return f"Uploaded {datetime.fromtimestamp(finished_at):%d %b %H:%M}"


def _first_duplicate(keys: list[str]) -> str | None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    return None
