"""The panel of every unfinished upload in reach: the user's uploads the API holds, started on any
computer, with Resume (the file this computer started it with), Locate File… (another copy of the
file, accepted only when the parts already sent have its bytes) and Abort (the server deletes the
parts, after a question that says how much it holds).

Every call goes through the bridge, off the GUI thread; while one runs, the panel says what it waits
for and its controls rest. On the existing deployment, which cannot list uploads, it says that it
needs this project's API.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.api import ApiInfo
from app.core.errors import NotThisApiError, UploadError
from app.core.models import UploadStatus
from app.core.remote import RemoteUnfinished
from app.core.steps import parts_expire_at
from app.gui.dialogs import confirm
from app.gui.formatting import plural
from app.gui.remote_model import UPLOAD_ROLE, RemoteColumn, RemoteUploadsModel, held_amount
from app.gui.resources import icon
from app.gui.session import Session
from app.gui.widgets import NoteLabel, hint_label, plain_table

COLUMN_WIDTHS = {
    RemoteColumn.NAME: 170,
    RemoteColumn.KEY: 230,
    RemoteColumn.SIZE: 80,
    RemoteColumn.HELD: 140,
    RemoteColumn.STARTED: 100,
    RemoteColumn.EXPIRES: 130,
}
EMPTY = (
    "No unfinished uploads: every upload you started with this API, on any computer, is finished or "
    "was cancelled."
)
RESUME_TIP = "Go on with the file this computer started the upload with (else choose it)"
LOCATE_TIP = "Choose the file on this computer: it is accepted when the parts already sent have its bytes"
NOT_SIGNED_IN = "Sign in to an upload API to see the unfinished uploads it holds for you."


class RemoteUploadsDialog(QDialog):
    """Lists, resumes and aborts the user's unfinished uploads on the API the session is signed in to;
    `busy` while a call runs."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._bridge = session.bridge
        self._api_url = ""
        self._info: ApiInfo | None = None
        self.busy = False
        self.setWindowTitle("Unfinished Uploads on the Server")
        self.resize(1020, 460)

        intro = hint_label(
            "The uploads you started with this API and did not finish, from this computer or any other. "
            "The server keeps their parts until its clean-up rule deletes them: resume one to finish it, "
            "or abort it to free the space."
        )
        self.model = RemoteUploadsModel(self)
        self.table = plain_table(QTableView(), row_height=28)
        self.table.setModel(self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in COLUMN_WIDTHS.items():
            header.resizeSection(column, width)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _: self.resume_selected())

        self.placeholder = QLabel()
        self.placeholder.setObjectName("hint")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setMargin(24)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.table)
        self.pages.addWidget(self.placeholder)

        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy, for as long as it takes
        self.progress.setTextVisible(False)
        self.progress.setFixedWidth(90)
        self.progress_label = QLabel()
        # The label may be long ("Checking the parts already sent against …"): it shrinks, the buttons stay.
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.note = NoteLabel(reserve_lines=2)

        self.resume_button = QPushButton(icon("resume"), "Resume")
        self.locate_button = QPushButton(icon("show-in-folder"), "Locate File…")
        self.abort_button = QPushButton(icon("cancel"), "Abort Upload…")
        self.abort_button.setToolTip("Cancel the upload: the server deletes the parts it holds")
        self.refresh_button = QPushButton(icon("retry"), "Refresh")
        self.close_button = QPushButton("Close")
        self.resume_button.clicked.connect(self.resume_selected)
        self.locate_button.clicked.connect(self.locate_selected)
        self.abort_button.clicked.connect(self.abort_selected)
        self.refresh_button.clicked.connect(self.refresh)
        self.close_button.clicked.connect(self.close)
        for button in (self.resume_button, self.locate_button, self.abort_button, self.refresh_button):
            button.setAutoDefault(False)
        buttons = QHBoxLayout()
        for button in (self.resume_button, self.locate_button, self.abort_button):
            buttons.addWidget(button)
        buttons.addSpacing(12)
        buttons.addWidget(self.progress)
        buttons.addWidget(self.progress_label, 1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(intro)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        self._set_busy(None)

    # --- listing ----------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Ask the API again for the unfinished uploads (off the GUI thread)."""
        session = self._session
        if not session.signed_in or not session.api_url:
            self.model.set_uploads([])
            self._show_placeholder(NOT_SIGNED_IN)
            return
        if session.api_url != self._api_url:  # signed in elsewhere since: that API's rule is not known
            self._api_url, self._info = session.api_url, None
        self._set_busy("Asking the API for your unfinished uploads…")
        self._bridge.remote_uploads(self._api_url, self._listed, self._listing_failed, owner=self)

    def _listed(self, uploads: list[RemoteUnfinished]) -> None:
        self._set_busy(None)
        selected = self.selected()
        self.model.set_uploads(uploads)
        if not uploads:
            self._show_placeholder(EMPTY)
        else:
            self.pages.setCurrentWidget(self.table)
            ids = [upload.file_id for upload in uploads]
            row = ids.index(selected.file_id) if selected is not None and selected.file_id in ids else 0
            self.table.selectRow(row)
        self._show_expiry()
        self._update_buttons()

    def _listing_failed(self, error: UploadError) -> None:
        self._set_busy(None)
        self.model.set_uploads([])
        self._show_placeholder(error.message)
        if not isinstance(error, NotThisApiError):
            self.note.show_error("The list could not be loaded. Choose Refresh to try again.")
        self._update_buttons()

    def _show_expiry(self) -> None:
        """When each upload's parts go: from the API's clean-up rule (asked once per sign-in)."""
        if self._info is not None:
            self._set_expiry(self._info)
        elif self.model.rowCount():
            self._session.learn_api(self._set_expiry, owner=self)

    def _set_expiry(self, info: ApiInfo) -> None:
        self._info = info
        self.model.set_expiry(
            {
                upload.file_id: parts_expire_at(upload.started_at, info)
                for upload in self.model.uploads()
                if upload.started_at is not None and not upload.single
            }
        )

    def _show_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.pages.setCurrentWidget(self.placeholder)

    # --- resume -----------------------------------------------------------------------------------

    def selected(self) -> RemoteUnfinished | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.pages.currentWidget() is not self.table:
            return None
        return self.model.index(rows[0].row(), 0).data(UPLOAD_ROLE)

    def resume_selected(self) -> None:
        """Go on with the file this computer started the upload with; without one, ask for it."""
        upload = self.selected()
        if upload is None or self.busy:
            return
        if upload.local_path is None:
            self.locate_selected()
            return
        self._adopt(upload, upload.local_path)

    def locate_selected(self) -> None:
        upload = self.selected()
        if upload is None or self.busy:
            return
        start = str(upload.local_path.parent) if upload.local_path is not None else str(Path.home())
        name, _ = QFileDialog.getOpenFileName(self, f"Locate {upload.name}", start)
        if name:
            self._adopt(upload, Path(name))

    def _adopt(self, upload: RemoteUnfinished, path: Path) -> None:
        self.note.clear_note()
        checking = "Checking the parts already sent against" if upload.parts_held else "Taking over"
        self._set_busy(f"{checking} {path.name}…")
        self._bridge.adopt_remote(
            self._api_url,
            upload.file_id,
            path,
            on_done=lambda status: self._adopted(upload, status),
            on_error=self._refused,
            owner=self,
        )

    def _adopted(self, upload: RemoteUnfinished, status: UploadStatus) -> None:
        self._set_busy(None)
        kept = f" with the {plural(status.parts_done, 'part')} already sent" if status.parts_done else ""
        self.note.show_success(f"{upload.name} goes on from {status.path}{kept}; it is in the upload list.")
        self.refresh()

    def _refused(self, error: UploadError) -> None:
        self._set_busy(None)
        self.note.show_error(error.message)
        self._update_buttons()

    # --- abort ------------------------------------------------------------------------------------

    def abort_selected(self) -> None:
        upload = self.selected()
        if upload is None or self.busy or not self._confirm_abort(upload):
            return
        self.note.clear_note()
        self._set_busy(f"Aborting the upload of {upload.name}…")
        self._bridge.abort_remote(
            self._api_url,
            upload.file_id,
            on_done=lambda _: self._aborted(upload),
            on_error=self._refused,
            owner=self,
        )

    def _confirm_abort(self, upload: RemoteUnfinished) -> bool:
        amount = held_amount(upload)
        what = f"the {amount} it holds" if amount else "what it holds"
        return confirm(
            self,
            title="Abort Upload",
            text=f"Abort the upload of {upload.name}?",
            detail=f"The server deletes {what} of “{upload.key}”; this cannot be undone. The file on your "
            "computer is not touched.",
            accept="Abort Upload",
            keep="Keep It",
            icon=QMessageBox.Icon.Warning,
            role=QMessageBox.ButtonRole.DestructiveRole,
        )

    def _aborted(self, upload: RemoteUnfinished) -> None:
        self._set_busy(None)
        amount = held_amount(upload)
        freed = f"; the server deleted its {amount}" if amount else ""
        self.note.show_success(f"The upload of {upload.name} was aborted{freed}.")
        self.refresh()

    # --- state ------------------------------------------------------------------------------------

    def _set_busy(self, doing: str | None) -> None:
        """`doing`: what the panel waits for (its controls rest meanwhile); None: idle."""
        busy = doing is not None
        self.busy = busy
        self.progress.setVisible(busy)
        self.progress_label.setText(doing or "")
        self.table.setEnabled(not busy)
        self.refresh_button.setEnabled(not busy)
        self._update_buttons()

    def _update_buttons(self) -> None:
        upload = None if self.busy else self.selected()
        multipart = upload is not None and not upload.single
        self.resume_button.setEnabled(multipart)
        self.locate_button.setEnabled(multipart)
        self.abort_button.setEnabled(upload is not None)
        single = upload is not None and upload.single
        one_piece = "Sent in one piece, so no part is kept: add the file again to upload it."
        self.resume_button.setToolTip(one_piece if single else RESUME_TIP)
        self.locate_button.setToolTip(one_piece if single else LOCATE_TIP)
