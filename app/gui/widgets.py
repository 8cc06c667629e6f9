"""Small widgets shared by the window and the dialogs."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QAbstractItemView, QDialogButtonBox, QLabel, QSizePolicy, QTableView, QWidget

from app.gui.resources import is_dark

# (text colour, background, border) for each kind of note, on light and on dark windows.
_KINDS = {
    "info": ("#3d4654", "rgba(61, 70, 84, 0.06)", "rgba(61, 70, 84, 0.18)"),
    "success": ("#1f6e41", "rgba(46, 157, 91, 0.10)", "rgba(46, 157, 91, 0.35)"),
    "warning": ("#7a4a00", "rgba(224, 145, 47, 0.12)", "rgba(224, 145, 47, 0.45)"),
    "error": ("#a32222", "rgba(214, 69, 69, 0.10)", "rgba(214, 69, 69, 0.40)"),
}
_DARK_KINDS = {
    "info": ("#d6dbe2", "rgba(214, 219, 226, 0.07)", "rgba(214, 219, 226, 0.22)"),
    "success": ("#7fd3a0", "rgba(46, 157, 91, 0.16)", "rgba(46, 157, 91, 0.45)"),
    "warning": ("#f2c07a", "rgba(224, 145, 47, 0.16)", "rgba(224, 145, 47, 0.50)"),
    "error": ("#f29b9b", "rgba(214, 69, 69, 0.18)", "rgba(214, 69, 69, 0.50)"),
}
_PADDING = "padding: 7px 10px;"


def plain_buttons(box: QDialogButtonBox) -> QDialogButtonBox:
    """Drop the icons some styles put on standard buttons (a red cross on Cancel beside a plain Start)."""
    for button in box.buttons():
        button.setIcon(QIcon())
    return box


class NoteLabel(QLabel):
    """A tinted, word-wrapped message box line: info, success, warning or error.

    Hidden when empty, unless `reserve_lines` is given: then it always takes the height of that many
    lines (blank when there is nothing to say), so the dialog around it does not jump as messages come
    and go or change length.
    """

    def __init__(self, parent: QWidget | None = None, *, reserve_lines: int = 0) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.kind = ""
        self._reserve = reserve_lines
        if reserve_lines:
            lines = self.fontMetrics().lineSpacing() * reserve_lines
            self.setFixedHeight(lines + 16)  # the padding and border of the tinted box
            self.setStyleSheet(f"QLabel {{ border: 1px solid transparent; {_PADDING} }}")
        else:
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
        if self._reserve:
            self.setStyleSheet(f"QLabel {{ border: 1px solid transparent; {_PADDING} }}")
        else:
            self.hide()

    def _show(self, kind: str, text: str) -> None:
        kinds = _DARK_KINDS if is_dark(QGuiApplication.palette()) else _KINDS
        color, background, border = kinds[kind]
        self.kind = kind
        self.setStyleSheet(
            f"QLabel {{ color: {color}; background: {background}; border: 1px solid {border};"
            f" border-radius: 6px; {_PADDING} }}"
        )
        self.setText(text)
        self.show()


WORD_JOINER = "\u2060"  # an invisible character that forbids a line break beside it


def breaking_at_spaces(text: str) -> str:
    """`text` wrapping only at spaces: Qt also breaks lines after "/" and "-", which cuts a path or a
    template such as uploads/{date}/{relpath} in two (and rich text's `<nobr>` does not stop it)."""
    return text.replace("/", "/" + WORD_JOINER).replace("-", "-" + WORD_JOINER)


def hint_label(text: str) -> QLabel:
    """A quiet, word-wrapped help text that wraps only at spaces."""
    label = QLabel(breaking_at_spaces(text))
    label.setObjectName("hint")
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    # Take the width the layout offers (a word-wrapped label otherwise picks a narrow one).
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return label


def plain_table(view: QTableView, *, row_height: int) -> QTableView:
    """`view` as a read-only list: whole rows selected, no grid, one line per row (a long text loses its
    middle, where paths and keys say least), no row numbers, the last column taking the room left."""
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(row_height)
    view.horizontalHeader().setStretchLastSection(True)
    return view
