"""Live validation of the metadata and of the keys; Start is disabled (nothing is sent) while invalid."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.gui.batch_files_model import BatchColumn
from app.gui.file_collector import PickedFile
from app.gui.metadata_dialog import MetadataDialog

VALID = '{\n  "organizationId": "org-7",\n  "objectRecordId": "rec-42"\n}'


@pytest.fixture
def dialog(qtbot, tmp_path: Path) -> MetadataDialog:
    files = [
        PickedFile(tmp_path / "clip.mov", tmp_path, 10),
        PickedFile(tmp_path / "still.jpg", tmp_path, 20),
    ]
    dialog = MetadataDialog(
        files, metadata_text=VALID, template="{filename}", overwrite=False, destination="api.example.test"
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def keys_of(dialog: MetadataDialog) -> list[str]:
    model = dialog.files_model
    return [model.index(row, BatchColumn.KEY).data() for row in range(model.rowCount())]


def type_metadata(qtbot, dialog: MetadataDialog, text: str) -> None:
    dialog.editor.setPlainText(text)
    qtbot.waitUntil(lambda: not dialog._timer.isActive(), timeout=2000)  # live validation ran


def test_valid_metadata_enables_start_and_previews_each_key(dialog) -> None:
    assert dialog.start_button.isEnabled()
    assert dialog.metadata_note.kind == "success"
    assert keys_of(dialog) == ["clip.mov", "still.jpg"]


def test_a_syntax_error_names_line_and_column_and_highlights_it(qtbot, dialog) -> None:
    type_metadata(qtbot, dialog, '{\n  "organizationId": "org-7",\n  "objectRecordId": rec-42\n}')
    assert not dialog.start_button.isEnabled()
    assert dialog.metadata_note.kind == "error"
    assert dialog.metadata_note.text().startswith("Line 3, column 21:")
    selections = dialog.editor.extraSelections()
    assert selections, "the error is highlighted in the editor"
    assert selections[0].cursor.block().blockNumber() == 2  # line 3
    assert selections[1].cursor.selectionStart() - selections[1].cursor.block().position() == 20  # column 21
    assert keys_of(dialog) == ["clip.mov", "still.jpg"]  # the list stays, keys from the template alone


def test_metadata_must_be_an_object_with_the_required_fields(qtbot, dialog) -> None:
    type_metadata(qtbot, dialog, '["org-7"]')
    assert "must be a JSON object" in dialog.metadata_note.text()
    assert not dialog.start_button.isEnabled()
    type_metadata(qtbot, dialog, '{"organizationId": "org-7"}')
    assert 'The field "objectRecordId" is required.' in dialog.metadata_note.text()
    assert not dialog.start_button.isEnabled()
    assert dialog.editor.extraSelections() == []  # no position to highlight


def test_nothing_starts_while_invalid(qtbot, dialog) -> None:
    type_metadata(qtbot, dialog, "{")
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    dialog.buttons.accepted.emit()  # even if Start were triggered another way
    assert dialog.batch() is None
    assert dialog.isVisible()


def test_a_bad_key_template_blocks_start(qtbot, dialog) -> None:
    dialog.template_edit.setText("uploads/{nosuchfield}/{filename}")
    qtbot.waitUntil(lambda: not dialog._timer.isActive(), timeout=2000)
    assert not dialog.start_button.isEnabled()
    assert "not a known placeholder" in dialog.key_note.text()
    dialog.template_edit.setText("{organizationId}/{date}/{filename}")
    qtbot.waitUntil(lambda: not dialog._timer.isActive(), timeout=2000)
    assert dialog.start_button.isEnabled()
    assert keys_of(dialog)[0].startswith("org-7/")


def test_start_returns_the_batch(qtbot, dialog) -> None:
    dialog.overwrite_box.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    batch = dialog.batch()
    assert batch is not None
    assert batch.keys == ["clip.mov", "still.jpg"]
    assert batch.metadata == {"organizationId": "org-7", "objectRecordId": "rec-42"}
    assert batch.overwrite is True
