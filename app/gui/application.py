"""Builds the app from the core (journal, credentials, settings, manager), runs it, and shuts it down."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from app.core.credentials import CredentialStore, KeyringUnavailableError
from app.core.journal import Journal
from app.core.logs import setup_logging
from app.core.manager import UploadManager
from app.core.paths import config_dir
from app.core.settings import load_settings, to_transfer_settings
from app.gui.bridge import UploadBridge
from app.gui.main_window import MainWindow
from app.gui.resources import app_icon
from app.gui.session import Session
from app.gui.style import apply_style

log = logging.getLogger(__name__)


def window_state_store(directory: Path | None = None) -> QSettings:
    """Where the window's size, columns and splitter are remembered (`window.ini` in the config dir)."""
    return QSettings(str((directory or config_dir()) / "window.ini"), QSettings.Format.IniFormat)


def token_source(credentials: CredentialStore) -> Callable[[str], str | None]:
    """The manager's token lookup: a failing (e.g. locked) keyring counts as no token, so uploads wait
    for sign-in instead of failing."""

    def lookup(api_url: str) -> str | None:
        try:
            return credentials.get(api_url)
        except KeyringUnavailableError as error:
            log.warning("No token for %s: %s", api_url, error.message)
            return None

    return lookup


def create_application(argv: list[str]) -> QApplication:
    """The QApplication (the running one when there is one, as under pytest-qt), named and styled."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv)
    app.setApplicationName("s3up")
    app.setApplicationDisplayName("s3up")
    app.setDesktopFileName("s3up")
    app.setWindowIcon(app_icon())
    apply_style(app)
    return app


def run(argv: list[str], *, local: bool = False) -> int:
    """Run the desktop app until its window closes; `local` starts the local test stack in-process."""
    log_path = setup_logging()
    log.info("s3up starting (log: %s)", log_path)
    app = create_application(argv)
    with ExitStack() as cleanup:
        stack = None
        if local:
            from backend.local import LocalStack  # only needed, and only installed, for --local

            print("Starting the local test API…", file=sys.stderr)
            stack = cleanup.enter_context(LocalStack(port=0))
        journal = Journal.open_default()
        cleanup.callback(journal.close)
        settings = load_settings()
        credentials = CredentialStore()
        manager = UploadManager(journal, token_source(credentials), to_transfer_settings(settings))
        cleanup.callback(manager.shutdown)
        bridge = UploadBridge(manager)
        cleanup.callback(bridge.shutdown)
        if stack is not None:
            session = Session.for_local_stack(
                bridge,
                credentials,
                settings,
                api_url=stack.api_url,
                cdn_base_url=stack.cdn_base_url,
                token=stack.token,
                log_folder=log_path.parent,
            )
        else:
            session = Session(bridge, credentials, settings, log_folder=log_path.parent)
        window = MainWindow(bridge, session, window_state_store())
        window.show()
        window.start()
        code = app.exec()
    return code
