"""Settings: how hard uploads push (connections, part size, bandwidth, acceleration) and where they go."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLayoutItem,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.concurrency import MINIMUM as MIN_ADAPTIVE_CONNECTIONS
from app.core.settings import (
    MAX_CONNECTIONS,
    MAX_PART_SIZE_MIB,
    MIN_PART_SIZE_MIB,
    AppSettings,
    setting_problem,
)
from app.gui.widgets import NoteLabel, hint_label, plain_buttons

AUTOMATIC_PART = MIN_PART_SIZE_MIB - 1  # the part-size box shows "Automatic" at its minimum


FIELD_WIDTH = 170  # the spin boxes', so that their right edges line up


class SettingsDialog(QDialog):
    """Edits a copy of the settings; `settings()` returns the edited copy after `accepted`."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._original = settings
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)

        # 0 is each box's special value, as in the settings: automatic, no cap of its own
        self.connections = QSpinBox(minimum=0, maximum=MAX_CONNECTIONS, value=settings.max_connections)
        self.connections.setSpecialValueText("Automatic")
        self.per_file = QSpinBox(minimum=0, maximum=MAX_CONNECTIONS, value=settings.per_file_connections)
        self.per_file.setSpecialValueText("No limit")
        self.part_size = QSpinBox(minimum=AUTOMATIC_PART, maximum=MAX_PART_SIZE_MIB, suffix=" MiB")
        self.part_size.setSpecialValueText("Automatic")
        self.part_size.setValue(settings.part_size_mib if settings.part_size_mib else AUTOMATIC_PART)
        # decimals, as the settings file and the CLI take them (0.5 MiB/s on a thin line)
        self.bandwidth = QDoubleSpinBox(minimum=0, maximum=100_000, decimals=2, suffix=" MiB/s")
        self.bandwidth.setSpecialValueText("Unlimited")
        self.bandwidth.setValue(settings.bandwidth_limit_mib or 0)
        self.accelerate = QCheckBox("Use S3 Transfer Acceleration")
        self.accelerate.setChecked(settings.accelerate)
        self.notify = QCheckBox("Notify me when a batch of uploads finishes")
        self.notify.setChecked(settings.notify_when_done)

        transfers = QGroupBox("Transfers")
        form = QFormLayout(transfers)
        form.addRow("Connections in total:", self.connections)
        form.addRow(
            "",
            hint_label(
                f"Automatic finds the fastest number, from {MIN_ADAPTIVE_CONNECTIONS} to {MAX_CONNECTIONS}."
            ),
        )
        form.addRow("Connections per file:", self.per_file)
        form.addRow("Part size:", self.part_size)
        form.addRow("", hint_label("Automatic suits each file: large files get larger parts."))
        form.addRow("Bandwidth limit:", self.bandwidth)
        form.addRow("", self.accelerate)
        form.addRow("", hint_label("Faster over long distances when the bucket has acceleration enabled."))

        self.template = QLineEdit(settings.key_template)
        self.cdn = QLineEdit(settings.cdn_base_url or "")
        self.cdn.setPlaceholderText("https://d111111abcdef8.cloudfront.net")
        destination = QGroupBox("Destination")
        dest_form = QFormLayout(destination)
        dest_form.addRow("Key template:", self.template)
        dest_form.addRow("", hint_label("For example {filename} or uploads/{date}/{relpath}."))
        dest_form.addRow("CDN base URL:", self.cdn)
        dest_form.addRow("", hint_label("Used to build links when the API does not return them."))
        for each in (form, dest_form):
            each.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for box in (self.connections, self.per_file, self.part_size, self.bandwidth):
            box.setFixedWidth(FIELD_WIDTH)
        align_labels([form, dest_form])

        self.note = NoteLabel()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        plain_buttons(self.buttons)
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(transfers)
        layout.addWidget(destination)
        layout.addWidget(self.notify)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)

    def _save(self) -> None:
        """Refuse what could not be saved, with the field to mend (the per-file connections are not capped
        here: the engine caps them at the total, and the user's number is kept for a later total)."""
        edited = self.settings()
        for name, field in (("key_template", self.template), ("cdn_base_url", self.cdn)):
            if problem := setting_problem(name, getattr(edited, name)):
                self.note.show_error(problem)
                field.setFocus()
                return
        self.accept()

    def settings(self) -> AppSettings:
        """The settings as edited (the original object is left untouched)."""
        part = self.part_size.value()
        return replace(
            self._original,
            max_connections=self.connections.value(),
            per_file_connections=self.per_file.value(),
            part_size_mib=0 if part == AUTOMATIC_PART else part,
            bandwidth_limit_mib=self.bandwidth.value(),
            accelerate=self.accelerate.isChecked(),
            key_template=self.template.text().strip() or self._original.key_template,
            cdn_base_url=self.cdn.text().strip().rstrip("/"),
            notify_when_done=self.notify.isChecked(),
        )


def align_labels(forms: list[QFormLayout]) -> None:
    """Give every form's labels the width of the widest, so that the fields of all forms start at the
    same x even though they sit in different group boxes."""
    labels = [
        label
        for form in forms
        for row in range(form.rowCount())
        if isinstance(label := form.itemAt(row, QFormLayout.ItemRole.LabelRole), QLayoutItem)
        and isinstance(label.widget(), QLabel)
    ]
    widest = max((item.widget().sizeHint().width() for item in labels), default=0)
    for item in labels:
        item.widget().setMinimumWidth(widest)
