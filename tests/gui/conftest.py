"""GUI fixtures: an isolated s3up home, windows built on a fake or real manager, and clean shutdowns.

Every bridge, manager and journal made here is shut down at teardown, before pytest-qt checks for
leftover widgets; the GUI uses no QThread, so none can outlive a test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from app.core.credentials import CredentialStore
from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, TransferSettings
from app.core.settings import AppSettings
from app.gui.bridge import UploadBridge
from app.gui.main_window import MainWindow
from app.gui.session import Session
from app.gui.startup import token_source
from backend.local import LocalStack
from tests.gui.fakes import FakeManager

API_URL = "https://api.example.test/prod"
VALID_METADATA = '{"organizationId": "org-7", "objectRecordId": "rec-42"}'


@pytest.fixture(autouse=True)
def s3up_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Journal, settings and logs of this test live in its own folder."""
    home = tmp_path / "s3up-home"
    monkeypatch.setenv("S3UP_HOME", str(home))
    return home


@pytest.fixture
def credentials() -> CredentialStore:
    return CredentialStore()


@pytest.fixture
def fake_manager() -> FakeManager:
    return FakeManager()


MakeWindow = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot: Any, tmp_path: Path, credentials: CredentialStore) -> Iterator[MakeWindow]:
    """Build a shown main window on `manager`; `signed_in=True` keeps `token` for `api_url` in memory."""
    bridges: list[UploadBridge] = []
    windows: list[MainWindow] = []

    def make(
        manager: Any,
        *,
        settings: AppSettings | None = None,
        signed_in: bool = True,
        api_url: str = API_URL,
        cdn_base_url: str = "",
        token: str = "test-token",
        start: bool = True,
    ) -> MainWindow:
        settings = settings or AppSettings(
            api_url=api_url, cdn_base_url=cdn_base_url, last_metadata=VALID_METADATA
        )
        bridge = UploadBridge(manager)
        bridges.append(bridge)
        if signed_in:
            credentials.remember_for_session(api_url, token)
        session = Session(bridge, credentials, settings, log_folder=tmp_path / "logs")
        window = MainWindow(
            bridge, session, QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
        )
        qtbot.addWidget(window, before_close_func=MainWindow.close_without_asking)
        windows.append(window)
        window.show()
        if start:
            window.start()
            if signed_in:
                qtbot.waitUntil(lambda: session.signed_in, timeout=5000)
        return window

    yield make
    for window in windows:
        window.close_without_asking()
    for bridge in bridges:
        bridge.shutdown()


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    """The real local API (moto, gateway, CDN stand-in), shared by the tests of one module."""
    with LocalStack(port=0) as stack:
        yield stack


@pytest.fixture
def stack_token(local_stack: LocalStack) -> str:
    """A fresh token for this test (tests revoke theirs)."""
    return local_stack.issue_token(principal="tester", organization_id="org-7")


MakeManager = Callable[..., UploadManager]


@pytest.fixture
def make_manager(credentials: CredentialStore) -> Iterator[MakeManager]:
    """A real `UploadManager` on the test's own journal; each is shut down (and its journal closed)."""
    made: list[tuple[UploadManager, Journal]] = []

    def make(settings: TransferSettings | None = None) -> UploadManager:
        journal = Journal.open_default()
        manager = UploadManager(
            journal, token_source(credentials), settings or TransferSettings(part_size=5 * MIB)
        )
        made.append((manager, journal))
        return manager

    yield make
    for manager, journal in made:
        manager.shutdown()
        journal.close()
