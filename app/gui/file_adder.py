"""Adding files, from the moment they are chosen or dropped until they are listed: walk them (off the GUI
thread), say what was skipped, wait for a sign-in when needed, ask for the batch's metadata, add the batch
through the bridge, and list what was added a few hundred rows per turn (a folder of 10,000 files never
holds the window for long)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMainWindow

from app.core.errors import UploadError
from app.core.folders import Collection, collect
from app.core.models import UploadRequest, UploadStatus
from app.gui.bridge import AddOutcome, UploadBridge
from app.gui.dialogs import refusal_lines, warn_list
from app.gui.formatting import plural
from app.gui.memory import freeze_long_lived_objects
from app.gui.metadata_dialog import Batch, MetadataDialog
from app.gui.notifier import BatchTracker
from app.gui.pacing import Paced
from app.gui.session import Session
from app.gui.upload_table_model import UploadTableModel

FREEZE_AFTER = 100  # uploads added at once: their records are kept out of full garbage collections
LISTED_PER_TURN = 200  # rows of a large folder listed per turn of the event loop


class FileAdder(QObject):
    """The window's adding flow. `ask_sign_in(reason)` opens the sign-in dialog; the window then calls
    `signed_in()` or `sign_in_closed()`. `refresh()` updates the window after rows change."""

    def __init__(
        self,
        window: QMainWindow,
        bridge: UploadBridge,
        session: Session,
        model: UploadTableModel,
        batch: BatchTracker,
        *,
        ask_sign_in: Callable[[str], None],
        refresh: Callable[[], None],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._bridge = bridge
        self._session = session
        self._model = model
        self._batch = batch
        self._ask_sign_in = ask_sign_in
        self._refresh = refresh
        self._pending: Collection | None = None  # dropped before signing in
        self._refused: list[tuple[UploadRequest, UploadError]] = []  # files refused by the current add
        # Uploads just added, listed unless their newer status got there first.
        self._unlisted: Paced[UploadStatus] = Paced(self._list_added, LISTED_PER_TURN, self)
        self.metadata_dialog: MetadataDialog | None = None

    def choose_files(self) -> None:
        """The platform's own file dialog where it has one (Qt's otherwise)."""
        names, _ = QFileDialog.getOpenFileNames(self._window, "Add Files", str(Path.home()))
        if names:
            self.add_paths([Path(name) for name in names])

    def choose_folder(self) -> None:
        name = QFileDialog.getExistingDirectory(self._window, "Add Folder", str(Path.home()))
        if name:
            self.add_paths([Path(name)])

    def add_paths(self, paths: list[Path]) -> None:
        """Walk the paths on a worker, then ask for the metadata of the batch."""
        self._window.statusBar().showMessage("Looking at the files…")
        self._bridge.submit(lambda: collect(paths), on_result=self._files_collected)

    def signed_in(self) -> None:
        """Go on with the files that were waiting for the sign-in."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._ask_metadata(pending)

    def sign_in_closed(self) -> None:
        """The sign-in dialog closed: files still waiting for it were given up with it."""
        self._pending = None

    def _files_collected(self, collection: Collection) -> None:
        self._window.statusBar().clearMessage()
        if collection.problems:
            title = "Some files were skipped" if collection.files else "Nothing to upload"
            warn_list(self._window, title, [problem.message for problem in collection.problems])
        if not collection.files:
            return
        if not self._session.signed_in:
            self._pending = collection
            self._ask_sign_in("Sign in to upload these files.")
            return
        self._ask_metadata(collection)

    def _ask_metadata(self, collection: Collection) -> None:
        session = self._session
        settings = session.settings
        dialog = MetadataDialog(
            collection.files,
            metadata_text=settings.last_metadata,
            template=settings.key_template,
            destination=session.api_description(),
            bridge=self._bridge,
            parent=self._window,
        )
        dialog.check_keys_against(session.api_url, session.cdn_base_url)
        dialog.accepted.connect(lambda: self._start_batch(dialog.batch()))
        dialog.finished.connect(self._metadata_closed)
        self.metadata_dialog = dialog
        dialog.open()

    def _metadata_closed(self) -> None:
        if self.metadata_dialog is not None:
            self.metadata_dialog.deleteLater()
        self.metadata_dialog = None

    def _start_batch(self, batch: Batch | None) -> None:
        if batch is None:
            return
        session = self._session
        session.update_settings(
            replace(
                session.settings,
                last_metadata=batch.metadata_text,
                key_template=batch.template,
            )
        )
        api_url, cdn_base_url, accelerate = (
            session.api_url,
            session.cdn_base_url or None,
            session.settings.accelerate,
        )
        if len(batch.files) > 1:
            self._window.statusBar().showMessage(f"Adding {plural(len(batch.files), 'file')}…")
        self._bridge.add_many(
            lambda: batch.requests(api_url, cdn_base_url, accelerate=accelerate), self.added
        )

    def added(self, outcome: AddOutcome) -> None:
        """One portion of an add came back: list it, and at the last portion tell what was refused."""
        self._unlisted.put(outcome.added)  # listed a few hundred per turn: a turn never runs long
        self._batch.add([self._model.status(s.id) or s for s in outcome.added])  # as shown: maybe newer
        if len(outcome.added) >= FREEZE_AFTER:
            freeze_long_lived_objects()
        self._refused += outcome.refused
        if outcome.last:
            refused, self._refused = self._refused, []
            self._window.statusBar().clearMessage()
            if refused:
                warn_list(self._window, f"{plural(len(refused), 'file')} not added", refusal_lines(refused))
        self._refresh()

    def _list_added(self, statuses: list[UploadStatus]) -> None:
        self._model.update_statuses([s for s in statuses if self._model.status(s.id) is None])
        self._refresh()
