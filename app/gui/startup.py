"""The app's one wiring, from the engine to the window: engine process (journal and uploads) → bridge →
session → window, built in one place and taken down in the reverse order. The app, the self-test and the
screenshots tool all start through `wired_app`.

The engine runs in a process of its own (`app.core.engine_process`), so that its upload threads never
hold the interpreter lock the window's thread needs to paint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.core.credentials import CredentialStore, KeyringUnavailableError
from app.core.engine_process import EngineProcess
from app.core.paths import log_dir
from app.core.settings import AppSettings, load_settings, to_transfer_settings
from app.gui.bridge import UploadBridge
from app.gui.main_window import MainWindow
from app.gui.session import Session
from app.gui.window_state import window_state_store
from app.local_backend import LocalApi

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WiredApp:
    engine: EngineProcess
    bridge: UploadBridge
    session: Session
    window: MainWindow


def token_source(credentials: CredentialStore) -> Callable[[str], str | None]:
    """The engine's token lookup: a failing (e.g. locked) keyring counts as no token, so uploads wait
    for sign-in instead of failing."""

    def lookup(api_url: str) -> str | None:
        try:
            return credentials.get(api_url)
        except KeyringUnavailableError as error:
            log.warning("No token for %s: %s", api_url, error.message)
            return None

    return lookup


@contextmanager
def wired_app(
    *,
    local: LocalApi | None = None,
    settings: AppSettings | None = None,
    log_folder: Path | None = None,
) -> Iterator[WiredApp]:
    """Start the engine process (it opens the journal) and build the bridge, session and (hidden) main
    window on it; on exit close the window and shut the bridge and the engine down, in that order.

    `settings` defaults to the saved ones. Raises an `UploadError` when the engine cannot start
    (`JournalError`: the journal cannot be opened).
    """
    with ExitStack() as cleanup:
        settings = settings if settings is not None else load_settings()
        credentials = CredentialStore()
        folder = log_folder or log_dir()
        engine = EngineProcess(token_source(credentials), to_transfer_settings(settings), log_folder=folder)
        cleanup.callback(engine.shutdown)
        bridge = UploadBridge(engine)
        cleanup.callback(bridge.shutdown)
        cleanup.callback(engine.refuse_calls)  # first: the bridge then waits for no call to an engine
        engine.when_stopped(bridge.report_engine_stopped)
        engine.when_restarted(bridge.report_engine_restarted)
        if local is not None:
            session = Session.for_local_stack(
                bridge,
                credentials,
                settings,
                api_url=local.api_url,
                cdn_base_url=local.cdn_base_url,
                token=local.token,
                log_folder=folder,
            )
        else:
            session = Session(bridge, credentials, settings, log_folder=folder)
        window = MainWindow(bridge, session, window_state_store())
        cleanup.callback(window.close_without_asking)
        yield WiredApp(engine, bridge, session, window)
