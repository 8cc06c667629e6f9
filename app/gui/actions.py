"""The window's actions (menus, toolbar, context menu), with their icons and shortcuts."""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from app.gui.resources import icon

Key = QKeySequence.StandardKey


@dataclass
class Actions:
    add_files: QAction
    add_folder: QAction
    pause_all: QAction
    resume_all: QAction
    sign_in: QAction
    sign_out: QAction
    settings: QAction
    quit: QAction
    pause: QAction
    resume: QAction
    cancel: QAction
    retry: QAction
    copy_link: QAction
    open_link: QAction
    show_in_folder: QAction
    remove: QAction
    open_log_folder: QAction
    about: QAction

    def row_actions(self) -> list[QAction | None]:
        """The per-upload actions in context-menu order; None is a separator."""
        return [
            self.pause, self.resume, self.retry, self.cancel, None,
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
        sign_in=_action(parent, "Sign In…", "sign-in", "Ctrl+Shift+L", "Sign in to an upload API"),
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
    for field in fields(actions):
        parent.addAction(getattr(actions, field.name))
    return actions
