"""The window's small questions and notices: quit while uploading, remove uploads, files skipped, where a
folder is, a new key, about."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.core.errors import UploadError
from app.core.keys import KeyTemplateError, check_key
from app.core.models import UploadRequest, UploadStatus
from app.gui.formatting import plural
from app.gui.resources import icon
from app.gui.widgets import NoteLabel, plain_buttons


def confirm(
    parent: QWidget,
    *,
    title: str,
    text: str,
    detail: str,
    accept: str,
    keep: str,
    icon: QMessageBox.Icon = QMessageBox.Icon.Question,
    role: QMessageBox.ButtonRole = QMessageBox.ButtonRole.AcceptRole,
) -> bool:
    """Ask before doing something that cannot be taken back; True for `accept`. `keep` (leaving things as
    they are) is the default and Escape's answer."""
    box = QMessageBox(parent)
    box.setIcon(icon)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(detail)
    yes = box.addButton(accept, role)
    no = box.addButton(keep, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(no)
    box.setEscapeButton(no)
    box.exec()
    return box.clickedButton() is yes


def ask_quit(parent: QWidget, running: int) -> bool:
    """Ask before quitting while uploads run; True for "Pause and Quit" (they resume next time)."""
    return confirm(
        parent,
        title="Quit s3up?",
        text=f"{plural(running, 'upload')} {'is' if running == 1 else 'are'} still running.",
        detail="If you quit now, they are paused and continue where they stopped the next time you open "
        "s3up.",
        accept="Pause and Quit",
        keep="Keep Uploading",
    )


def warn_list(parent: QWidget, title: str, lines: list[str], shown: int = 10) -> None:
    """A warning with one sentence per paragraph: the first `shown`, then how many more there are."""
    text = "\n\n".join(lines[:shown])
    if len(lines) > shown:
        text += f"\n\n… and {len(lines) - shown:,} more."
    QMessageBox.warning(parent, title, text)


def refusal_lines(refused: list[tuple[UploadRequest, UploadError]], names_shown: int = 5) -> list[str]:
    """One line per reason, in the order first met: "name: reason" for one file; for several (such as
    every file of a folder when the engine stopped), the reason once and the first few names."""
    by_reason: dict[str, list[str]] = {}
    for request, error in refused:
        by_reason.setdefault(error.message, []).append(request.path.name)
    lines = []
    for reason, names in by_reason.items():
        if len(names) == 1:
            lines.append(f"{names[0]}: {reason}")
            continue
        listed = ", ".join(names[:names_shown]) + (", …" if len(names) > names_shown else "")
        lines.append(f"{reason} ({len(names):,} files: {listed})")
    return lines


def show_engine_stopped(parent: QWidget, text: str) -> None:
    """A box that stays until it is read, not modal: the window can still be looked at and quit."""
    box = QMessageBox(QMessageBox.Icon.Critical, "Uploads stopped", text, parent=parent)
    box.setObjectName("engine-stopped")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()


def show_about(parent: QWidget, log_folder: Path) -> None:
    QMessageBox.about(
        parent,
        "About s3up",
        f"<h3>s3up {__version__}</h3><p>Uploads very large files to Amazon S3 through your upload API, "
        "in parts that resume after a pause, a lost connection or a restart.</p>"
        f"<p>Log folder: {log_folder}</p>",
    )


def remove_question(statuses: list[UploadStatus]) -> str | None:
    """What to ask before removing these uploads from the list; None when nothing needs asking."""
    unfinished = [s for s in statuses if not s.state.is_finished]
    if not unfinished:
        return None
    with_parts = [s for s in unfinished if s.parts_done > 0]
    count = plural(len(unfinished), "upload")
    verb = "is" if len(unfinished) == 1 else "are"
    if with_parts:
        parts = sum(s.parts_done for s in with_parts)
        return (
            f"{count} {verb} not finished. Removing cancels {'it' if len(unfinished) == 1 else 'them'} "
            f"and deletes the {plural(parts, 'part')} already sent. Remove anyway?"
        )
    return f"{count} {verb} not finished and will be cancelled. Remove anyway?"


def open_or_show(parent: QWidget, url: QUrl, title: str) -> None:
    """Open `url` with the desktop; where nothing can open it (no file manager, no browser), show it in
    a dialog the user can copy it from."""
    if QDesktopServices.openUrl(url):
        return
    where = url.toLocalFile() if url.isLocalFile() else url.toString()
    dialog = LocationDialog(title, where, parent)
    dialog.open()


class LocationDialog(QDialog):
    """A path or link the desktop could not open, with a Copy button."""

    def __init__(self, title: str, location: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        self.setObjectName("locationDialog")
        intro = QLabel("No application on this computer opened it. Here is where it is:")
        intro.setWordWrap(True)
        self.location_edit = QLineEdit(location)
        self.location_edit.setReadOnly(True)
        self.location_edit.setCursorPosition(0)
        self.copy_button = QPushButton(icon("copy"), "Copy")
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout()
        row.addWidget(self.location_edit, 1)
        row.addWidget(self.copy_button)
        buttons = plain_buttons(QDialogButtonBox(QDialogButtonBox.StandardButton.Close))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row)
        layout.addWidget(buttons)
        self.finished.connect(self.deleteLater)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.location_edit.text())
        self.copy_button.setText("Copied")


class ChangeKeyDialog(QDialog):
    """Asks for the key to upload a file under, when its own key is taken. `key()` after `accepted`."""

    def __init__(self, status: UploadStatus, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Change Key")
        self.setMinimumWidth(560)
        intro = QLabel(
            f"An object already exists at “{status.key}”. Choose the key to upload "
            f"{status.path.name} under instead."
        )
        intro.setWordWrap(True)
        self.key_edit = QLineEdit(_suggested_key(status.key))
        self.key_edit.selectAll()
        self.note = NoteLabel(reserve_lines=2)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        accept = QDialogButtonBox.ButtonRole.AcceptRole
        self.ok_button = self.buttons.addButton("Upload with This Key", accept)
        self.ok_button.setDefault(True)
        plain_buttons(self.buttons)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.key_edit.textChanged.connect(self._check)
        self._taken = status.key
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.key_edit)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self._check()

    def key(self) -> str:
        return self.key_edit.text().strip()

    def _problem(self) -> str | None:
        key = self.key()
        if key == self._taken:
            return "That is the key already taken; choose another one."
        try:
            check_key(key)
        except KeyTemplateError as error:
            return error.message
        return None

    def _check(self) -> None:
        problem = self._problem()
        if problem and self.key():
            self.note.show_error(problem)
        else:
            self.note.clear_note()
        self.ok_button.setEnabled(problem is None)

    def _accept(self) -> None:
        if self._problem() is None:
            self.accept()


def _suggested_key(key: str) -> str:
    """`photos/a.jpg` → `photos/a-2.jpg`: a likely-free key the user can edit."""
    folder, _, name = key.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    if not stem:
        stem, dot, extension = name, "", ""
    new_name = f"{stem}-2{dot}{extension}"
    return f"{folder}/{new_name}" if folder else new_name
