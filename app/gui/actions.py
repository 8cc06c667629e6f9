"""The window's actions with their icons and shortcuts, the menus and toolbar that show them, and
which of them apply to the current selection."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenuBar, QSizePolicy, QToolBar, QWidget

from app.core.models import UploadStatus
from app.gui.resources import icon
from app.gui.status_text import can_retry, is_conflict, waits_for_resume

if TYPE_CHECKING:
    from app.gui.session import Session
    from app.gui.upload_table_model import Summary

Key = QKeySequence.StandardKey


@dataclass
class Actions:
    add_files: QAction
    add_folder: QAction
    pause_all: QAction
    resume_all: QAction
    clear_finished: QAction
    remote_uploads: QAction
    account: QAction
    sign_in: QAction
    sign_in_button: QAction  # the toolbar's, shown only while not signed in
    sign_out: QAction
    settings: QAction
    quit: QAction
    pause: QAction
    resume: QAction
    cancel: QAction
    retry: QAction
    overwrite: QAction
    change_key: QAction
    copy_link: QAction
    open_link: QAction
    show_in_folder: QAction
    remove: QAction
    open_log_folder: QAction
    about: QAction

    def row_actions(self) -> list[QAction | None]:
        """The per-upload actions in context-menu order; None is a separator."""
        return [
            self.pause, self.resume, self.retry, self.overwrite, self.change_key, self.cancel, None,
            self.copy_link, self.open_link, self.show_in_folder, None,
            self.remove,
        ]  # fmt: skip


def _action(
    parent: QWidget, text: str, icon_name: str | None, shortcut: str | Key | None = None, tip: str = ""
) -> QAction:
    action = QAction(text, parent)
    if icon_name:
        action.setIcon(icon(icon_name))
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(
            f"{tip} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
            if shortcut is not None
            else tip
        )
    return action


def create_actions(parent: QWidget) -> Actions:
    """All actions, parented to `parent` so their shortcuts work anywhere in the window."""
    preferences = QKeySequence(Key.Preferences)
    actions = Actions(
        add_files=_action(parent, "Add Files…", "add-files", Key.Open, "Choose files to upload"),
        add_folder=_action(parent, "Add Folder…", "add-folder", "Ctrl+Shift+O", "Choose a folder to upload"),
        pause_all=_action(parent, "Pause All", "pause", "Ctrl+Shift+P", "Pause every upload"),
        resume_all=_action(parent, "Resume All", "resume", "Ctrl+Shift+R", "Resume every paused upload"),
        clear_finished=_action(
            parent, "Clear Finished", "clear", "Ctrl+Shift+K", "Remove finished uploads from the list"
        ),
        remote_uploads=_action(
            parent,
            "Unfinished Uploads on the Server…",
            "server",
            "Ctrl+Shift+U",
            "Uploads you did not finish, from any computer: resume or abort them",
        ),
        account=QAction("Not signed in", parent),
        sign_in=_action(parent, "Sign In…", "sign-in", "Ctrl+Shift+L", "Sign in to an upload API"),
        sign_in_button=_action(parent, "Sign In…", "sign-in", None, "Sign in to an upload API"),
        sign_out=_action(parent, "Sign Out", "sign-out", None, "Forget the token of this API"),
        settings=_action(
            parent,
            "Settings…",
            "settings",
            preferences if not preferences.isEmpty() else "Ctrl+,",
            "Connections, part size, bandwidth and keys",
        ),
        quit=_action(parent, "Quit", "quit", Key.Quit),
        pause=_action(parent, "Pause", "pause", "Ctrl+P"),
        resume=_action(parent, "Resume", "resume", "Ctrl+R"),
        cancel=_action(parent, "Cancel Upload", "cancel", None),
        retry=_action(parent, "Retry", "retry", "Ctrl+T"),
        overwrite=_action(parent, "Overwrite", "overwrite", None, "Replace the object already at this key"),
        change_key=_action(parent, "Change Key…", "change-key", None, "Upload this file under another key"),
        copy_link=_action(parent, "Copy Link", "copy", Key.Copy),
        open_link=_action(parent, "Open Link", "open-link", "Ctrl+Return"),
        show_in_folder=_action(parent, "Show in Folder", "show-in-folder", "Ctrl+Shift+F"),
        remove=_action(parent, "Remove from List", "remove", Key.Delete),
        open_log_folder=_action(parent, "Open Log Folder", "log-folder"),
        about=_action(parent, "About s3up", "about"),
    )
    actions.settings.setMenuRole(QAction.MenuRole.PreferencesRole)
    actions.quit.setMenuRole(QAction.MenuRole.QuitRole)
    actions.about.setMenuRole(QAction.MenuRole.AboutRole)
    actions.remote_uploads.setIconText("On the Server")
    actions.account.setEnabled(False)  # a caption: who the app is signed in as
    actions.sign_in_button.triggered.connect(actions.sign_in.trigger)
    for field in fields(actions):
        parent.addAction(getattr(actions, field.name))
    return actions


def build_menus(bar: QMenuBar, a: Actions) -> None:
    file_menu = bar.addMenu("&File")
    file_menu.addActions([a.add_files, a.add_folder])
    file_menu.addSeparator()
    file_menu.addActions([a.settings, a.quit])
    transfers = bar.addMenu("&Transfers")
    transfers.addActions([a.pause_all, a.resume_all, a.clear_finished])
    transfers.addSeparator()
    transfers.addAction(a.remote_uploads)
    transfers.addSeparator()
    for action in a.row_actions():
        if action is None:
            transfers.addSeparator()
        else:
            transfers.addAction(action)
    account = bar.addMenu("&Account")
    account.addAction(a.account)
    account.addSeparator()
    account.addActions([a.sign_in, a.sign_out])
    help_menu = bar.addMenu("&Help")
    help_menu.addActions([a.open_log_folder, a.about])


def build_toolbar(a: Actions) -> QToolBar:
    toolbar = QToolBar("Main")
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.addActions([a.add_files, a.add_folder])
    toolbar.addSeparator()
    toolbar.addActions([a.pause_all, a.resume_all])
    toolbar.addSeparator()
    toolbar.addAction(a.remote_uploads)
    spacer = QWidget()
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    toolbar.addWidget(spacer)
    toolbar.addActions([a.sign_in_button, a.settings])
    return toolbar


def selected_link(selected: list[UploadStatus]) -> str:
    """The link of the first selected upload, or "" when it has none."""
    return (selected[0].url or "") if selected else ""


def update_actions(a: Actions, selected: list[UploadStatus], queue: Summary, session: Session) -> None:
    """Enable what applies to the selection and the queue; name who the app is signed in as."""
    a.pause.setEnabled(any(s.state.is_active for s in selected))
    a.resume.setEnabled(any(waits_for_resume(s) for s in selected))
    a.retry.setEnabled(any(can_retry(s) for s in selected))
    conflicted = len(selected) == 1 and is_conflict(selected[0])
    a.overwrite.setEnabled(conflicted)
    a.change_key.setEnabled(conflicted)
    a.overwrite.setVisible(conflicted)
    a.change_key.setVisible(conflicted)
    a.cancel.setEnabled(any(not s.state.is_finished for s in selected))
    link = bool(selected_link(selected))
    a.copy_link.setEnabled(link)
    a.open_link.setEnabled(link)
    a.show_in_folder.setEnabled(bool(selected))
    a.remove.setEnabled(bool(selected))
    a.pause_all.setEnabled(queue.active > 0)
    a.resume_all.setEnabled(queue.resumable > 0)
    a.clear_finished.setEnabled(queue.done + queue.cancelled > 0)
    a.account.setText(session.status_text())
    a.sign_in.setText("Sign In to Another API…" if session.signed_in else "Sign In…")
    a.sign_in_button.setVisible(not session.signed_in)
    a.sign_out.setEnabled(session.signed_in and not session.on_local_api())
    a.sign_out.setToolTip(
        "The local test API's token lasts until you quit; there is nothing to sign out of."
        if session.on_local_api()
        else "Forget the token of this API"
    )
