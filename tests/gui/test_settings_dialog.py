from __future__ import annotations

from app.core.settings import AppSettings
from app.gui.settings_dialog import SettingsDialog


def test_part_size_is_automatic_by_default_and_edits_come_back(qtbot) -> None:
    dialog = SettingsDialog(AppSettings())
    qtbot.addWidget(dialog)
    assert dialog.part_size.text() == "Automatic"
    assert dialog.bandwidth.text() == "Unlimited"
    dialog.connections.setValue(12)
    dialog.per_file.setValue(20)  # capped at the total
    dialog.part_size.setValue(64)
    dialog.bandwidth.setValue(50)
    dialog.accelerate.setChecked(True)
    dialog.template.setText("uploads/{date}/{relpath}")
    dialog.cdn.setText("https://d111.cloudfront.net/")
    edited = dialog.settings()
    assert (edited.max_connections, edited.per_file_connections) == (12, 12)
    assert (edited.part_size_mib, edited.bandwidth_limit_mib, edited.accelerate) == (64, 50, True)
    assert edited.key_template == "uploads/{date}/{relpath}"
    assert edited.cdn_base_url == "https://d111.cloudfront.net"
    dialog.part_size.setValue(dialog.part_size.minimum())
    assert dialog.settings().part_size_mib == 0


def test_a_bad_template_is_refused(qtbot) -> None:
    dialog = SettingsDialog(AppSettings())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.template.setText("{oops")
    dialog.buttons.accepted.emit()
    assert dialog.isVisible()
    assert dialog.note.kind == "error"


def test_the_fields_of_both_groups_line_up(qtbot) -> None:
    dialog = SettingsDialog(AppSettings())
    qtbot.addWidget(dialog)
    dialog.show()
    lefts = {
        field.mapTo(dialog, field.rect().topLeft()).x() for field in (dialog.connections, dialog.template)
    }
    assert len(lefts) == 1, "the Transfers and Destination fields start at the same x"
    widths = {
        box.width() for box in (dialog.connections, dialog.per_file, dialog.part_size, dialog.bandwidth)
    }
    assert len(widths) == 1
