"""The main window: the upload queue, its details, the toolbar and menus, and the flows between them
(drop → `FileAdder`; 401 → sign-in → continue; batch done → notification; quit → pause)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
    QGuiApplication,
    QShowEvent,
)
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QSplitter

from app.core.models import UploadState, UploadStatus
from app.gui.actions import Actions, build_menus, build_toolbar, create_actions, selected_link, update_actions
from app.gui.bridge import UploadBridge
from app.gui.commands import (
    Action,
    Command,
    CredentialsChanged,
    PauseAll,
    ResolveConflict,
    ResumeAll,
    for_uploads,
)
from app.gui.details_pane import DetailsPane
from app.gui.dialogs import (
    ChangeKeyDialog,
    ask_quit,
    open_or_show,
    remove_question,
    show_about,
    show_engine_stopped,
)
from app.gui.file_adder import FileAdder
from app.gui.notifier import BatchTracker, Notifier
from app.gui.remote_dialog import RemoteUploadsDialog
from app.gui.resources import app_icon
from app.gui.resuming import PausedByUser, plan_resumption, running_when_engine_died
from app.gui.session import Session
from app.gui.settings_dialog import SettingsDialog
from app.gui.sign_in_dialog import SignInDialog, SignInResult
from app.gui.status_text import summary_text
from app.gui.upload_table_model import UploadTableModel
from app.gui.upload_view import UploadView
from app.gui.window_state import (
    RESUME_AT_START,
    fit_to_screen,
    restore_window_state,
    save_ids,
    save_window_state,
    saved_ids,
)

HISTORY_LIMIT = 200
QUIT_PAUSE_TIMEOUT = 5.0  # seconds the window waits for the uploads to pause at quit


class MainWindow(QMainWindow):
    def __init__(self, bridge: UploadBridge, session: Session, window_state: QSettings) -> None:
        super().__init__()
        self.bridge = bridge
        self.session = session
        self._window_state = window_state
        self.batch = BatchTracker()
        self._waiting_for_sign_in: set[int] = set()
        self._restored_notice: set[int] = set()  # paused at start, while the status bar says so
        self._paused_by_user = PausedByUser()
        self._asked_to_quit = False
        self.sign_in_dialog: SignInDialog | None = None
        self.remote_dialog: RemoteUploadsDialog | None = None

        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.resize(1180, 680)
        self.actions = create_actions(self)
        self.model = UploadTableModel(self)
        self.adder = FileAdder(
            self,
            bridge,
            session,
            self.model,
            self.batch,
            ask_sign_in=self.show_sign_in,
            refresh=self._refresh,
        )
        self.view = UploadView(self.model, self.actions)
        self.details = DetailsPane()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.view)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 1)
        splitter.setCollapsible(0, False)
        splitter.setCollapsible(1, False)
        splitter.setSizes([520, 170])
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self.notifier = Notifier(self)
        self.totals_label = QLabel()
        self.api_label = QLabel()
        self.api_label.setObjectName("apiLabel")
        self.statusBar().addWidget(self.totals_label, 1)
        self.statusBar().addPermanentWidget(self.api_label)
        build_menus(self.menuBar(), self.actions)
        self.toolbar = build_toolbar(self.actions)
        self.addToolBar(self.toolbar)
        self._connect(self.actions)
        restore_window_state(self._window_state, self, self.view.horizontalHeader(), self.splitter)
        self._refresh()

    # --- building ---------------------------------------------------------------------------------

    def _connect(self, a: Actions) -> None:
        a.add_files.triggered.connect(self.adder.choose_files)
        a.add_folder.triggered.connect(self.adder.choose_folder)
        a.pause_all.triggered.connect(lambda: self.command(PauseAll()))
        a.resume_all.triggered.connect(lambda: self.command(ResumeAll()))
        a.clear_finished.triggered.connect(self.clear_finished)
        a.remote_uploads.triggered.connect(self.show_remote_uploads)
        a.sign_in.triggered.connect(lambda: self.show_sign_in())
        a.sign_out.triggered.connect(self.sign_out)
        a.settings.triggered.connect(self.show_settings)
        a.quit.triggered.connect(self.close)
        for item, action in (
            (a.pause, Action.PAUSE),
            (a.resume, Action.RESUME),
            (a.cancel, Action.CANCEL),
            (a.retry, Action.RETRY),
        ):
            item.triggered.connect(lambda _=False, action=action: self._on_selection(action))
        a.overwrite.triggered.connect(lambda: self.overwrite(self._single_selected()))
        a.change_key.triggered.connect(lambda: self.change_key(self._single_selected()))
        a.remove.triggered.connect(self.remove_selected)
        a.copy_link.triggered.connect(lambda: self.copy_link(selected_link(self.view.selected_statuses())))
        a.open_link.triggered.connect(lambda: self.open_link(selected_link(self.view.selected_statuses())))
        a.show_in_folder.triggered.connect(self.show_selected_in_folder)
        a.open_log_folder.triggered.connect(self.open_log_folder)
        a.about.triggered.connect(lambda: show_about(self, self.session.log_folder))
        self.view.selectionModel().selectionChanged.connect(self._refresh)
        self.view.doubleClicked.connect(lambda _: self._on_double_click())
        self.details.command.connect(self._on_details_command)
        self.details.copy_requested.connect(self.copy_link)
        self.details.open_requested.connect(self.open_link)
        self.bridge.statuses_changed.connect(self.on_statuses)
        self.bridge.error_occurred.connect(lambda text: self.statusBar().showMessage(text, 12000))
        self.bridge.engine_stopped.connect(self._engine_stopped)
        self.bridge.engine_restarted.connect(self._engine_restarted)
        self.session.changed.connect(self._refresh)

    # --- start ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Load unfinished uploads and history (off the GUI thread); ask to sign in when needed."""
        self.bridge.load_queue(HISTORY_LIMIT, self._queue_loaded)
        self.session.check(on_missing=lambda: self.show_sign_in())

    def _queue_loaded(self, loaded: tuple[list[UploadStatus], list[UploadStatus]]) -> None:
        restored, history = loaded
        self.model.update_statuses(history)
        self._list_restored(restored, set(saved_ids(self._window_state, RESUME_AT_START)))

    def _list_restored(
        self, restored: list[UploadStatus], to_resume: set[int], *, after_crash: bool = False
    ) -> None:
        """List the unfinished uploads the engine loaded from the journal; resume those in `to_resume`
        (running when the app quit, or when the engine died), and say that the others wait."""
        self.model.update_statuses(restored)
        plan = plan_resumption(restored, to_resume, after_crash=after_crash)
        if plan.resuming:
            self.bridge.send(for_uploads(Action.RESUME, plan.resuming))
        save_ids(self._window_state, RESUME_AT_START, [])
        if plan.noticed:
            self._restored_notice = plan.noticed
        if plan.message:
            self.statusBar().showMessage(plan.message, plan.message_ms)
        self._refresh()

    # --- drag and drop ----------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _local_paths(event.mimeData().urls()):
            event.acceptProposedAction()
            self.view.set_drop_active(True)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.view.set_drop_active(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self.view.set_drop_active(False)
        paths = _local_paths(event.mimeData().urls())
        if paths:
            event.acceptProposedAction()
            self.adder.add_paths(paths)

    # --- status events ----------------------------------------------------------------------------

    def on_statuses(self, statuses: list[UploadStatus]) -> None:
        self.model.update_statuses(statuses)
        self.batch.note(statuses)
        waiting_before = bool(self._waiting_for_sign_in)
        for status in statuses:
            if status.state is UploadState.NEEDS_SIGN_IN:
                self._waiting_for_sign_in.add(status.id)
            else:
                self._waiting_for_sign_in.discard(status.id)
        if self._waiting_for_sign_in and not waiting_before:
            self.show_sign_in(
                "The API no longer accepts your token. Sign in again; the uploads continue by themselves."
            )
        self._check_batch_done()
        self._refresh()

    def _check_batch_done(self) -> None:
        summary = self.batch.finished()
        if summary is None:
            return
        self.statusBar().showMessage(summary.text, 15000)
        if self.session.settings.notify_when_done:
            self.notifier.notify(summary.title, summary.text)

    # --- row commands -----------------------------------------------------------------------------

    def command(self, command: Command) -> None:
        """Carry out a command the user gave (the Pauses are remembered for an engine restart)."""
        self._paused_by_user.note(command, lambda: (s.id for s in self.model.statuses() if s.state.is_active))
        self.bridge.send(command)

    def _on_selection(self, action: Action) -> None:
        self.command(for_uploads(action, [s.id for s in self.view.selected_statuses()]))

    def _single_selected(self) -> UploadStatus | None:
        selected = self.view.selected_statuses()
        return selected[0] if len(selected) == 1 else None

    def _on_details_command(self, name: str, upload_id: int) -> None:
        status = self.model.status(upload_id)
        if name == "overwrite":
            self.overwrite(status)
        elif name == "change_key":
            self.change_key(status)
        else:
            self.command(for_uploads(Action(name), [upload_id]))

    def _on_double_click(self) -> None:
        selected = self.view.selected_statuses()
        if selected and selected[0].url:
            self.open_link(selected[0].url)
        elif selected and selected[0].state.can_resume:
            self.command(for_uploads(Action.RESUME, [selected[0].id]))

    def overwrite(self, status: UploadStatus | None) -> None:
        if status is not None:
            self.bridge.send(ResolveConflict(status.id, overwrite=True))

    def change_key(self, status: UploadStatus | None) -> None:
        if status is None:
            return
        dialog = ChangeKeyDialog(status, self)
        dialog.accepted.connect(lambda: self.bridge.send(ResolveConflict(status.id, new_key=dialog.key())))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def remove_selected(self) -> None:
        selected = self.view.selected_statuses()
        question = remove_question(selected)
        if question is not None:
            answer = QMessageBox.question(self, "Remove from List", question)
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._remove([s.id for s in selected])

    def clear_finished(self) -> None:
        """Take every finished or cancelled upload off the list (the files and links stay where they are)."""
        self._remove([s.id for s in self.model.statuses() if s.state.is_finished])

    def _remove(self, ids: list[int]) -> None:
        self.model.forget(ids)
        self.bridge.send(for_uploads(Action.REMOVE, ids))
        self._refresh()

    def copy_link(self, url: str) -> None:
        if url:
            QGuiApplication.clipboard().setText(url)
            self.statusBar().showMessage("Link copied.", 4000)

    def open_link(self, url: str) -> None:
        if url:
            open_or_show(self, QUrl(url), "Open Link")

    def show_selected_in_folder(self) -> None:
        selected = self.view.selected_statuses()
        if selected:
            open_or_show(self, QUrl.fromLocalFile(str(selected[0].path.parent)), "Show in Folder")

    # --- sign-in, settings, help ------------------------------------------------------------------

    def show_sign_in(self, reason: str | None = None) -> None:
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.raise_()
            return
        dialog = SignInDialog(
            self.bridge,
            self.session.credentials,
            api_url=self.session.api_url,
            cdn_base_url=self.session.cdn_base_url,
            reason=reason,
            parent=self,
        )
        dialog.signed_in.connect(self._signed_in)
        dialog.finished.connect(self._sign_in_closed)
        self.sign_in_dialog = dialog
        dialog.open()

    def _sign_in_closed(self) -> None:
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.deleteLater()
        self.sign_in_dialog = None
        self.adder.sign_in_closed()

    def _signed_in(self, result: SignInResult) -> None:
        self.session.signed_in_with(result)
        self.statusBar().showMessage(self.session.sign_in_summary(result), 30000)
        self.bridge.send(CredentialsChanged(result.api_url))
        self.adder.signed_in()

    def sign_out(self) -> None:
        self.session.sign_out(
            on_done=lambda: self.statusBar().showMessage("Signed out; the token was deleted.", 8000)
        )

    def show_remote_uploads(self) -> None:
        """The panel of every unfinished upload the API holds for the user (from any computer)."""
        if self.remote_dialog is not None:
            self.remote_dialog.raise_()
            self.remote_dialog.activateWindow()
            return
        dialog = RemoteUploadsDialog(self.session, self)
        dialog.finished.connect(self._remote_closed)
        self.remote_dialog = dialog
        dialog.show()
        dialog.refresh()

    def _remote_closed(self) -> None:
        if self.remote_dialog is not None:
            self.remote_dialog.deleteLater()
        self.remote_dialog = None

    def show_settings(self) -> None:
        dialog = SettingsDialog(self.session.settings, self)
        dialog.accepted.connect(lambda: self.session.update_settings(dialog.settings(), apply=True))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def open_log_folder(self) -> None:
        open_or_show(self, QUrl.fromLocalFile(str(self.session.log_folder)), "Log Folder")

    # --- refresh ----------------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Totals, the API label, the details pane and which actions apply, from the model's state."""
        summary = self.model.summary()
        self.totals_label.setText(summary_text(summary))
        self.api_label.setText(self.session.status_text())
        self.setWindowTitle(self.session.window_title())
        self._expire_restored_notice()
        selected = self.view.selected_statuses()
        self.details.setVisible(summary.total > 0)
        self.details.show_status(selected[0] if len(selected) == 1 else None)
        update_actions(self.actions, selected, summary, self.session)

    def _expire_restored_notice(self) -> None:
        """ "… from last time, paused" stays only while one of those uploads is still paused."""
        if not self._restored_notice:
            return
        still = {i for i in self._restored_notice if (s := self.model.status(i)) and s.state.can_resume}
        if not still:
            self._restored_notice = set()
            self.statusBar().clearMessage()

    # --- quitting ---------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask first while uploads run: "Pause and Quit" pauses them (they continue at the next start)."""
        running = [s.id for s in self.model.statuses() if s.state.is_active]
        if running and not self._asked_to_quit:
            if not ask_quit(self, len(running)):
                event.ignore()
                return
            self._asked_to_quit = True
            save_ids(self._window_state, RESUME_AT_START, running)
            # Those sending now are paused (queued ones are listed paused at the next start anyway), so
            # quitting waits for a few dozen uploads at most, not for a folder of thousands.
            sending = [
                s.id for s in self.model.statuses() if s.state.is_active and s.state is not UploadState.QUEUED
            ]
            self.bridge.run_now(for_uploads(Action.PAUSE, sending), QUIT_PAUSE_TIMEOUT)
        save_window_state(self._window_state, self, self.view.horizontalHeader(), self.splitter)
        self.notifier.hide()
        super().closeEvent(event)

    def _engine_restarted(self, restored: list[UploadStatus]) -> None:
        """A new engine took over from one that died, with the journal's unfinished uploads: resume those
        that were running, those being added (the window had not listed them yet) and those kept for the
        next start; then refresh the rows of uploads that finished meanwhile from the history."""
        kept = saved_ids(self._window_state, RESUME_AT_START)
        to_resume = running_when_engine_died(self.model.statuses(), restored, kept, self._paused_by_user.ids)
        save_ids(self._window_state, RESUME_AT_START, sorted(to_resume))  # if the app dies meanwhile
        self._list_restored(restored, to_resume, after_crash=True)
        self.bridge.recent_keys(HISTORY_LIMIT, self.model.update_statuses, owner=self)

    def _engine_stopped(self, text: str) -> None:
        """The uploads stopped with the engine: say so in a box that stays until it is read (not modal, so
        that the window can still be looked at and quit)."""
        self.statusBar().showMessage(text)
        show_engine_stopped(self, text)

    def close_without_asking(self) -> None:
        """Close as part of shutting the app down (the uploads stay resumable either way)."""
        self._asked_to_quit = True
        self.close()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        fit_to_screen(self)


def _local_paths(urls: list[QUrl]) -> list[Path]:
    return [Path(url.toLocalFile()) for url in urls if url.isLocalFile()]
