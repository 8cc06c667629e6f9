"""Small widgets shared by the window and the dialogs."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QWidget

# (text colour, background, border) for each kind of note.
_KINDS = {
    "info": ("#3d4654", "rgba(61, 70, 84, 0.06)", "rgba(61, 70, 84, 0.18)"),
    "success": ("#1f6e41", "rgba(46, 157, 91, 0.10)", "rgba(46, 157, 91, 0.35)"),
    "warning": ("#7a4a00", "rgba(224, 145, 47, 0.12)", "rgba(224, 145, 47, 0.45)"),
    "error": ("#a32222", "rgba(214, 69, 69, 0.10)", "rgba(214, 69, 69, 0.40)"),
}


def plain_buttons(box: QDialogButtonBox) -> QDialogButtonBox:
    """Drop the icons some styles put on standard buttons (a red cross on Cancel beside a plain Start)."""
    for button in box.buttons():
        button.setIcon(QIcon())
    return box


class NoteLabel(QLabel):
    """A tinted, word-wrapped message box line: info, success, warning or error. Hidden when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.kind = ""
        self.hide()

    def show_info(self, text: str) -> None:
        self._show("info", text)

    def show_success(self, text: str) -> None:
        self._show("success", text)

    def show_warning(self, text: str) -> None:
        self._show("warning", text)

    def show_error(self, text: str) -> None:
        self._show("error", text)

    def clear_note(self) -> None:
        self.kind = ""
        self.clear()
        self.hide()

    def _show(self, kind: str, text: str) -> None:
        color, background, border = _KINDS[kind]
        self.kind = kind
        self.setStyleSheet(
            f"QLabel {{ color: {color}; background: {background}; border: 1px solid {border};"
            " border-radius: 6px; padding: 7px 10px; }"
        )
        self.setText(text)
        self.show()
