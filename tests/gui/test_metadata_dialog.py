"""Live validation of the metadata and of the keys; Start is disabled (nothing is sent) while invalid."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.core.folders import FoundFile
from app.core.models import UploadState
from app.gui.batch_files_model import BatchColumn
from app.gui.metadata_dialog import MetadataDialog

VALID = '{\n  "organizationId": "org-7",\n  "objectRecordId": "rec-42"\n}'


@pytest.fixture
def dialog(qtbot, tmp_path: Path) -> MetadataDialog:
    files = [
        FoundFile(tmp_path / "clip.mov", tmp_path, "clip.mov", 10),
        FoundFile(tmp_path / "still.jpg", tmp_path, "still.jpg", 20),
    ]
    dialog = MetadataDialog(files, metadata_text=VALID, template="{filename}", destination="api.example.test")
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


def make(qtbot, tmp_path: Path, metadata_text: str, count: int = 3, bridge=None) -> MetadataDialog:
    files = [FoundFile(tmp_path / f"f{i}.bin", tmp_path, f"f{i}.bin", 1536 * (i + 1)) for i in range(count)]
    dialog = MetadataDialog(
        files,
        metadata_text=metadata_text,
        template="{filename}",
        destination="api.test",
        bridge=bridge,
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_no_red_error_before_anything_is_typed_and_the_files_show_with_sizes(qtbot, tmp_path) -> None:
    dialog = make(qtbot, tmp_path, "")
    assert dialog.metadata_note.kind == "info"  # a hint, not an error, on a blank form
    assert dialog.editor.extraSelections() == []
    assert not dialog.start_button.isEnabled()
    model = dialog.files_model
    assert model.rowCount() == 3  # the list is there while the metadata is not valid yet
    assert [model.index(r, BatchColumn.SIZE).data() for r in range(3)] == ["1.5 KiB", "3.0 KiB", "4.5 KiB"]
    assert keys_of(dialog) == ["f0.bin", "f1.bin", "f2.bin"]  # {filename} needs no metadata
    type_metadata(qtbot, dialog, "{")
    assert dialog.metadata_note.kind == "error"  # typed: now errors show


def test_one_file_can_be_left_out_of_the_batch(qtbot, tmp_path) -> None:
    dialog = make(qtbot, tmp_path, VALID)
    assert "Upload 3 files" in dialog.header.text()
    dialog.files_view.selectRow(1)
    assert dialog.remove_button.isEnabled()
    dialog.remove_button.click()
    assert keys_of(dialog) == ["f0.bin", "f2.bin"]
    assert "Upload 2 files" in dialog.header.text()
    assert "6.0 KiB" in dialog.header.text()
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        dialog.start_button.click()
    assert [f.path.name for f in dialog.batch().files] == ["f0.bin", "f2.bin"]


def test_the_layout_does_not_jump_as_the_message_changes(qtbot, tmp_path) -> None:
    dialog = make(qtbot, tmp_path, VALID)
    before = (dialog.editor.geometry(), dialog.files_view.geometry(), dialog.metadata_note.height())
    for text in ('{"organizationId": 7}', '{\n  "organizationId": "org-7",,\n}', ""):
        type_metadata(qtbot, dialog, text)
        assert dialog.metadata_note.kind == "error"
        dialog.layout().activate()
        now = (dialog.editor.geometry(), dialog.files_view.geometry(), dialog.metadata_note.height())
        assert now == before, f"the layout moved for {text!r}: {dialog.metadata_note.text()!r}"


def test_keys_just_uploaded_to_this_api_are_flagged(qtbot, tmp_path, fake_manager) -> None:
    from app.gui.bridge import UploadBridge
    from tests.gui.test_upload_table_model import status

    api = "https://api.example.test/prod"
    fake_manager._history = [
        status(9, key="f1.bin", state=UploadState.DONE, finished_at=time.time() - 120),
        status(10, key="f2.bin", state=UploadState.DONE, api_url="https://elsewhere.test/prod"),
    ]
    bridge = UploadBridge(fake_manager)
    try:
        dialog = make(qtbot, tmp_path, VALID, bridge=bridge)
        dialog.check_keys_against(api, "")
        qtbot.waitUntil(lambda: dialog.key_note.kind == "warning", timeout=3000)
        notes = [dialog.files_model.index(r, BatchColumn.NOTE).data() for r in range(3)]
        assert notes == ["", "Uploaded 2 minutes ago", ""]  # the other API's f2.bin is not this one's
        assert "1 key marked in the list is taken already" in dialog.key_note.text()
        assert dialog.start_button.isEnabled()  # a warning: the user decides
        dialog.overwrite_box.setChecked(True)
        assert "will be replaced" in dialog.key_note.text()
    finally:
        bridge.shutdown()


def test_the_template_hint_wraps_only_at_spaces(qtbot, tmp_path) -> None:
    from PySide6.QtGui import QTextDocument

    from app.gui.widgets import breaking_at_spaces

    text = "For example {filename} or uploads/{date}/{relpath}, or any metadata field such as my-record."
    broken_lines = 0
    for width in range(200, 420, 20):
        document = QTextDocument()
        document.setPlainText(breaking_at_spaces(text))
        document.setTextWidth(width)
        document.documentLayout().documentSize()  # lays the text out
        plain = document.toPlainText()
        layout = document.firstBlock().layout()
        for number in range(1, layout.lineCount()):
            start = layout.lineAt(number).textStart()
            assert plain[start - 1] == " ", (
                f"at {width} px a line starts mid-word: {plain[start : start + 12]!r}"
            )
            broken_lines += 1
    assert broken_lines > 5  # the text did wrap
