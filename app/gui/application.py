"""Runs the desktop app: the QApplication, the optional local test API, the wired app, and the event loop."""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack

from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.errors import UploadError
from app.core.logs import setup_logging
from app.gui.memory import freeze_startup_objects
from app.gui.resources import app_icon
from app.gui.startup import wired_app
from app.gui.style import apply_style
from app.local_backend import LocalBackendError, local_backend

log = logging.getLogger(__name__)


def create_application(argv: list[str]) -> QApplication:
    """The QApplication (the running one when there is one, as under pytest-qt), named and styled.

    No application display name is set: Qt would append it to every window title ("s3up — … — s3up").
    """
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv)
    app.setApplicationName("s3up")
    app.setDesktopFileName("s3up")
    app.setWindowIcon(app_icon())
    apply_style(app)
    return app


def run(argv: list[str], *, local: bool = False) -> int:
    """Run the desktop app until its window closes; `local` starts the local test stack (in a process of
    its own) and signs in to it.

    Returns 0 after a normal quit, 1 when the app cannot start (the user is told why), 2 when `--local`
    is asked for without the optional local-stack packages.
    """
    log_path = setup_logging()
    log.info("s3up starting (log: %s)", log_path)
    app = create_application(argv)
    with ExitStack() as cleanup:
        backend = None
        if local:
            print("Starting the local test API…", file=sys.stderr)
            try:
                backend = cleanup.enter_context(local_backend(log_path.parent))
            except LocalBackendError as error:  # a taken port or data folder, missing packages
                log.error("The local test API cannot start: %s", error.message)
                if error.missing_packages:
                    print(error.message, file=sys.stderr)
                    return 2
                QMessageBox.critical(None, "s3up cannot start", error.message)
                return 1
        try:
            api = backend.api if backend is not None else None
            wired = cleanup.enter_context(wired_app(local=api, log_folder=log_path.parent))
        except UploadError as error:  # the journal cannot be opened, or the engine process cannot start
            log.error("The app cannot start: %s", error)
            QMessageBox.critical(None, "s3up cannot start", error.message)
            return 1
        if backend is not None:
            backend.when_stopped(wired.bridge.report_stopped)
        wired.window.show()
        wired.window.start()
        freeze_startup_objects()
        code = app.exec()
    return code
