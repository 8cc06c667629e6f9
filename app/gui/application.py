"""Builds the app from the core (journal, credentials, settings, manager), runs it, and shuts it down."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable
from contextlib import ExitStack

from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.credentials import CredentialStore, KeyringUnavailableError
from app.core.journal import Journal, JournalError
from app.core.logs import setup_logging
from app.core.manager import UploadManager
from app.core.settings import load_settings, to_transfer_settings
from app.gui.bridge import UploadBridge
from app.gui.main_window import MainWindow
from app.gui.resources import app_icon
from app.gui.session import Session
from app.gui.style import apply_style
from app.gui.window_state import window_state_store

log = logging.getLogger(__name__)


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


def freeze_startup_objects() -> None:
    """Exempt everything built so far (modules, Qt wrappers, the window) from garbage collection.

    A full collection walks every object while holding the interpreter lock; with ~100,000 objects
    from start-up that stalls the GUI for 40-60 ms. Frozen objects are never walked again, so later
    collections only look at what the app allocates while it runs.
    """
    gc.collect()
    gc.freeze()


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
    """Run the desktop app until its window closes; `local` starts the local test stack in-process.

    Returns 0 after a normal quit, 1 when the app cannot start (the user is told why), 2 when `--local`
    is asked for without the optional local-stack packages.
    """
    log_path = setup_logging()
    log.info("s3up starting (log: %s)", log_path)
    app = create_application(argv)
    with ExitStack() as cleanup:
        stack = None
        if local:
            try:
                from backend.local import LocalStack  # only needed, and only installed, for --local
            except ImportError as error:
                log.error("The local test API cannot start: %s", error)
                print(
                    f"--local needs the local test API's packages: pip install -e '.[local]' ({error})",
                    file=sys.stderr,
                )
                return 2
            print("Starting the local test API…", file=sys.stderr)
            from backend.local.datadir import default_data_dir

            folder = default_data_dir("local-api-app")  # kept across restarts: uploads and links survive
            try:
                stack = cleanup.enter_context(LocalStack(port=None, data_dir=folder))
            except (OSError, RuntimeError) as error:  # a taken port or data folder, said in a sentence
                log.error("The local test API cannot start: %s", error)
                QMessageBox.critical(None, "s3up cannot start", str(error))
                return 1
        try:
            journal = Journal.open_default()
        except JournalError as error:
            log.error("The journal cannot be opened: %s", error)
            QMessageBox.critical(None, "s3up cannot start", str(error))
            return 1
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
        freeze_startup_objects()
        code = app.exec()
    return code
