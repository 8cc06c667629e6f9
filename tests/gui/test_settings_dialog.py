from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.core.settings import AppSettings, to_transfer_settings
from app.gui.settings_dialog import SettingsDialog


def open_dialog(qtbot, settings: AppSettings | None = None) -> SettingsDialog:
    dialog = SettingsDialog(settings or AppSettings())
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_saving_the_defaults_keeps_connections_and_part_size_automatic(qtbot) -> None:
    """Saving Settings to change anything else must not fix the engine's connections."""
    dialog = open_dialog(qtbot)
    assert dialog.connections.text() == "Automatic"
    assert dialog.per_file.text() == "No limit"
    assert dialog.part_size.text() == "Automatic"
    assert dialog.bandwidth.text() == "Unlimited"
    dialog.template.setText("uploads/{relpath}")
    edited = dialog.settings()
    assert (edited.max_connections, edited.per_file_connections, edited.part_size_mib) == (0, 0, 0)
    engine = to_transfer_settings(edited)
    assert (engine.max_connections, engine.per_file_connections, engine.part_size) == (None, None, None)


def test_connections_can_be_fixed_and_made_automatic_again(qtbot) -> None:
    dialog = open_dialog(qtbot, AppSettings(max_connections=16, per_file_connections=4))
    assert (dialog.connections.text(), dialog.per_file.text()) == ("16", "4")
    dialog.connections.setValue(dialog.connections.minimum())
    dialog.per_file.setValue(40)  # no cap from an automatic total
    assert dialog.connections.text() == "Automatic"
    assert (dialog.settings().max_connections, dialog.settings().per_file_connections) == (0, 40)
    dialog.per_file.setValue(dialog.per_file.minimum())
    assert dialog.settings().per_file_connections == 0
    dialog.connections.setValue(dialog.connections.maximum())
    assert dialog.settings().max_connections == 64


def test_edits_come_back(qtbot) -> None:
    dialog = open_dialog(qtbot)
    dialog.connections.setValue(12)
    dialog.per_file.setValue(20)  # kept as typed; the engine caps it at the total
    dialog.part_size.setValue(64)
    dialog.bandwidth.setValue(50)
    dialog.accelerate.setChecked(True)
    dialog.template.setText("uploads/{date}/{relpath}")
    dialog.cdn.setText("https://d111.cloudfront.net/")
    edited = dialog.settings()
    assert (edited.max_connections, edited.per_file_connections) == (12, 20)
    assert to_transfer_settings(edited).per_file_connections == 12
    assert (edited.part_size_mib, edited.bandwidth_limit_mib, edited.accelerate) == (64, 50, True)
    assert edited.key_template == "uploads/{date}/{relpath}"
    assert edited.cdn_base_url == "https://d111.cloudfront.net"
    dialog.part_size.setValue(dialog.part_size.minimum())
    assert dialog.settings().part_size_mib == 0


@pytest.mark.parametrize(
    ("field", "text", "sentence"),
    [
        ("template", "{oops", 'has a "{" or "}" without its pair'),
        ("cdn", "d111.cloudfront.net", "The CDN base URL must start with https://"),  # no save could work
    ],
)
def test_a_field_that_could_not_be_saved_is_refused(qtbot, field: str, text: str, sentence: str) -> None:
    dialog = open_dialog(qtbot)
    getattr(dialog, field).setText(text)
    dialog.buttons.accepted.emit()
    assert dialog.isVisible()
    assert dialog.note.kind == "error"
    assert sentence in dialog.note.text()
    getattr(dialog, field).setText("")  # the default
    dialog.buttons.accepted.emit()
    assert not dialog.isVisible()


def test_the_fields_of_both_groups_line_up(qtbot) -> None:
    dialog = open_dialog(qtbot)
    lefts = {
        field.mapTo(dialog, field.rect().topLeft()).x() for field in (dialog.connections, dialog.template)
    }
    assert len(lefts) == 1, "the Transfers and Destination fields start at the same x"
    widths = {
        box.width() for box in (dialog.connections, dialog.per_file, dialog.part_size, dialog.bandwidth)
    }
    assert len(widths) == 1


def test_typing_a_total_leaves_the_connections_per_file_as_they_are(qtbot) -> None:
    dialog = open_dialog(qtbot, AppSettings(per_file_connections=8))
    dialog.connections.lineEdit().selectAll()
    qtbot.keyClicks(dialog.connections, "16")  # "1" first: a live cap would have cut the 8 to 1
    qtbot.keyClick(dialog.connections, Qt.Key.Key_Tab)
    assert (dialog.settings().max_connections, dialog.settings().per_file_connections) == (16, 8)


def test_a_bandwidth_limit_below_one_mib_per_second_is_kept(qtbot) -> None:
    dialog = open_dialog(qtbot, AppSettings(bandwidth_limit_mib=0.5))
    assert dialog.bandwidth.text() == "0.50 MiB/s"
    assert dialog.settings().bandwidth_limit_mib == 0.5
    dialog.bandwidth.setValue(2.75)
    assert dialog.settings().bandwidth_limit_mib == 2.75
