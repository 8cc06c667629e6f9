"""Who the app talks to: the API URL, the CDN base URL, whether a token is there, and the settings.

Every keyring or settings-file access runs on the bridge's workers; the GUI reads the cached answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, Signal

from app.core.api import ApiInfo, normalize_api_url
from app.core.credentials import CredentialStore, KeyringUnavailableError
from app.core.errors import UploadError
from app.core.settings import AppSettings, SettingsError, save_settings, to_transfer_settings
from app.gui.bridge import UploadBridge
from app.gui.commands import UpdateSettings
from app.gui.sign_in_dialog import EXISTING_DEPLOYMENT, SignInResult, probe

log = logging.getLogger(__name__)


class Session(QObject):
    """`changed` is emitted whenever the sign-in state, the API or the settings change."""

    changed = Signal()

    def __init__(
        self,
        bridge: UploadBridge,
        credentials: CredentialStore,
        settings: AppSettings,
        *,
        log_folder: Path,
        local_api_url: str = "",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.credentials = credentials
        self.settings = settings
        self.log_folder = log_folder
        self.local = bool(local_api_url)  # started with a local test API this process runs
        self._local_url = local_api_url
        self.api_url = settings.api_url
        self.cdn_base_url = settings.cdn_base_url
        self.signed_in = False
        self.principal: str | None = None
        self.api_info: ApiInfo | None = None  # what the API said it is, once it was asked (at sign-in)

    @classmethod
    def for_local_stack(
        cls,
        bridge: UploadBridge,
        credentials: CredentialStore,
        settings: AppSettings,
        *,
        api_url: str,
        cdn_base_url: str,
        token: str,
        log_folder: Path,
    ) -> Session:
        """Signed in to the local stack of `--local`: the token lives in memory, nothing is saved."""
        credentials.remember_for_session(api_url, token)
        session = cls(
            bridge,
            credentials,
            settings,
            log_folder=log_folder,
            local_api_url=api_url,
        )
        session.api_url, session.cdn_base_url, session.signed_in = api_url, cdn_base_url, True
        return session

    # --- sign-in state ------------------------------------------------------------------------------

    def check(self, on_missing: Callable[[], None]) -> None:
        """Look for a stored token (off the GUI thread); call `on_missing` when there is none."""
        if self.local:
            return
        if not self.api_url:
            on_missing()
            return
        api_url = self.api_url

        def lookup() -> bool:
            try:
                return self.credentials.get(api_url) is not None
            except KeyringUnavailableError as error:
                raise UploadError(f"{error.title}: {error.message}") from error

        def found(present: bool) -> None:
            self.signed_in = present
            self.changed.emit()
            if not present:
                on_missing()

        def failed(error: UploadError) -> None:
            self.bridge.error_occurred.emit(error.message)
            on_missing()

        self.bridge.submit(lookup, on_result=found, on_error=failed, owner=self)

    def signed_in_with(self, result: SignInResult) -> None:
        self.api_url, self.cdn_base_url = result.api_url, result.cdn_base_url
        self.signed_in = True
        self.principal = result.info.principal
        self.api_info = result.info
        if not self.local:
            self.update_settings(
                replace(self.settings, api_url=result.api_url, cdn_base_url=result.cdn_base_url)
            )
        self.changed.emit()

    def learn_api(self, on_done: Callable[[ApiInfo], None], owner: QObject) -> None:
        """What the API is and what it can do (`on_done`): known since sign-in, else asked once, off the
        GUI thread. Nothing is called back when the API cannot be asked (the reason is logged)."""
        api_url = self.api_url
        if self.api_info is not None and self.api_info.api_url == normalize_api_url(api_url):
            on_done(self.api_info)
            return

        def ask() -> ApiInfo:
            token = self.credentials.get(api_url)
            if token is None:
                raise UploadError(f"No token for {api_url}.")
            return probe(api_url, token)

        def learned(info: ApiInfo) -> None:
            if self.api_url == api_url:
                self.api_info = info
            on_done(info)

        def failed(error: UploadError) -> None:
            log.info("Could not ask %s what it is: %s", api_url, error.message)

        self.bridge.submit(ask, on_result=learned, on_error=failed, owner=owner)

    def sign_out(self, on_done: Callable[[], None]) -> None:
        """Delete the token (keyring and session memory)."""
        api_url = self.api_url

        def delete() -> None:
            try:
                self.credentials.delete(api_url)
            except KeyringUnavailableError as error:
                raise UploadError(f"{error.title}: {error.message}") from error

        self.signed_in = False
        self.principal = None
        self.api_info = None
        self.changed.emit()
        self.bridge.submit(delete, on_result=lambda _: on_done(), owner=self)

    # --- settings -----------------------------------------------------------------------------------

    def update_settings(self, settings: AppSettings, *, apply: bool = False) -> None:
        """Keep `settings`, save them off the GUI thread and (with `apply`) pass them to the engine."""
        self.settings = settings
        if not self.local:  # the local stack's CDN stays in use; the user's own is only saved
            self.cdn_base_url = settings.cdn_base_url

        dispatch_later = self.bridge.send

        def save() -> None:
            try:
                save_settings(settings)
                if apply:
                    dispatch_later(UpdateSettings(to_transfer_settings(settings)))
            except SettingsError as error:
                raise UploadError(error.message) from error

        self.bridge.submit(save)
        self.changed.emit()

    # --- texts --------------------------------------------------------------------------------------

    def on_local_api(self) -> bool:
        """Signed in to the local test API this process started (not to another API since)."""
        return self.local and self.api_url == self._local_url

    def api_description(self) -> str:
        if self.on_local_api():
            return f"the local test API ({urlsplit(self.api_url).netloc})"
        return urlsplit(self.api_url).netloc or "the API"

    def on_existing_deployment(self) -> bool:
        """The API answered as the existing deployment does (core routes only)."""
        return self.api_info is not None and not self.api_info.extended

    def status_text(self) -> str:
        if self.on_local_api():
            return f"Local test API ({urlsplit(self.api_url).netloc})"
        if not self.signed_in:
            return "Not signed in"
        who = f" as {self.principal}" if self.principal else ""
        what = " (existing deployment)" if self.on_existing_deployment() else ""
        return f"Signed in to {urlsplit(self.api_url).netloc}{what}{who}"

    def window_title(self) -> str:
        return "s3up — Local test API" if self.on_local_api() else "s3up"

    def sign_in_summary(self, result: SignInResult) -> str:
        """What the status bar says after signing in: where the token is, and what the API can do."""
        pieces = [f"Signed in to {urlsplit(result.api_url).netloc}."]
        if not result.in_keyring:
            pieces.append("No keyring is available, so the token is kept only until you quit.")
        if not result.info.extended:
            links = (
                "links are made from the CDN base URL you gave."
                if result.cdn_base_url
                else "it returns no links, so set a CDN base URL in Settings to get them."
            )
            pieces.append(f"{EXISTING_DEPLOYMENT}; {links}")
        elif not result.info.token_verified:
            pieces.append("This API cannot check a token before an upload; the first upload will.")
        return " ".join(pieces)
