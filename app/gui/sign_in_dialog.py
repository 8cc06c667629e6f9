"""Sign-in: the API URL, the token and (for APIs that return no links) the CDN base URL, checked off the
GUI thread, then the token stored in the OS keyring — or kept for this run when there is none."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.core.api import ApiClient, ApiInfo, normalize_api_url
from app.core.credentials import CredentialStore, KeyringUnavailableError
from app.core.errors import AccessDeniedError, AuthError, UploadError
from app.gui.bridge import UploadBridge
from app.gui.resources import icon
from app.gui.widgets import NoteLabel, hint_label, plain_buttons

PROBE_TIMEOUT = 15.0


@dataclass(frozen=True)
class SignInResult:
    info: ApiInfo
    api_url: str
    cdn_base_url: str
    in_keyring: bool  # False: kept in memory for this run only
    keyring_note: str | None  # why the token could not go into the keyring


def check_and_store(
    credentials: CredentialStore, api_url: str, token: str, cdn_base_url: str
) -> SignInResult:
    """Probe the API with the token; on success store the token (keyring, else session memory)."""
    url = normalize_api_url(api_url)
    client = ApiClient(url, token, timeout=PROBE_TIMEOUT)
    try:
        info = client.probe()
    finally:
        client.close()
    try:
        credentials.set(url, token)
    except KeyringUnavailableError as error:
        credentials.remember_for_session(url, token)
        return SignInResult(info, url, cdn_base_url, in_keyring=False, keyring_note=error.message)
    return SignInResult(info, url, cdn_base_url, in_keyring=True, keyring_note=None)


class SignInDialog(QDialog):
    """Emits `signed_in(SignInResult)` and closes once the API accepted the token."""

    signed_in = Signal(object)
    check_done = Signal(bool)  # a check with the API ended: True when it accepted the token

    def __init__(
        self,
        bridge: UploadBridge,
        credentials: CredentialStore,
        *,
        api_url: str = "",
        cdn_base_url: str = "",
        reason: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._credentials = credentials
        self.setWindowTitle("Sign In")
        self.setMinimumWidth(560)

        self.intro = QLabel(
            reason or "Enter the address of your upload API and the token you were given for it."
        )
        self.intro.setWordWrap(True)

        self.api_url_edit = QLineEdit(api_url)
        self.api_url_edit.setPlaceholderText("https://abc123.execute-api.eu-west-1.amazonaws.com/prod")
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("Paste your token")
        self._reveal = QAction(icon("show-token"), "Show the token", self.token_edit)
        self._reveal.setCheckable(True)
        self._reveal.toggled.connect(self._toggle_reveal)
        self.token_edit.addAction(self._reveal, QLineEdit.ActionPosition.TrailingPosition)
        self.cdn_edit = QLineEdit(cdn_base_url)
        self.cdn_edit.setPlaceholderText("https://d111111abcdef8.cloudfront.net")
        cdn_help = hint_label("Only needed when the API does not return links itself.")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("API URL:", self.api_url_edit)
        form.addRow("Token:", self.token_edit)
        form.addRow("CDN base URL:", self.cdn_edit)
        form.addRow("", cdn_help)

        self.keyring_label = NoteLabel()
        self.keyring_label.show_info("Looking for the keyring…")
        self.message_label = NoteLabel()

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.sign_in_button = self.buttons.addButton("Sign In", QDialogButtonBox.ButtonRole.AcceptRole)
        plain_buttons(self.buttons)
        for button in self.buttons.buttons():  # Enter means Sign In, whichever button had the focus last
            button.setAutoDefault(False)
        self.sign_in_button.setDefault(True)
        self.buttons.accepted.connect(self._check)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(self.intro)
        layout.addLayout(form)
        layout.addWidget(self.keyring_label)
        layout.addWidget(self.message_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

        (self.token_edit if api_url else self.api_url_edit).setFocus()
        bridge.submit(credentials.backend_name, on_result=self._show_keyring)

    def _toggle_reveal(self, shown: bool) -> None:
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self._reveal.setIcon(icon("hide-token" if shown else "show-token"))
        self._reveal.setText("Hide the token" if shown else "Show the token")

    def _show_keyring(self, name: str) -> None:
        if name == "none":
            self.keyring_label.show_warning(
                "This computer has no keyring: the token will be kept in memory until you quit s3up."
            )
        else:
            self.keyring_label.show_info(f"The token will be stored in your keyring ({name}).")

    def _check(self) -> None:
        api_url = self.api_url_edit.text().strip()
        token = self.token_edit.text().strip()
        if not api_url:
            self._fail("Enter the API URL.", self.api_url_edit)
            return
        if not token:
            self._fail("Enter the token you were given for this API.", self.token_edit)
            return
        self._set_busy(True)
        self.message_label.show_info("Checking the token with the API…")
        cdn = self.cdn_edit.text().strip().rstrip("/")
        self._bridge.submit(
            lambda: check_and_store(self._credentials, api_url, token, cdn),
            on_result=self._succeeded,
            on_error=self._failed,
        )

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.api_url_edit, self.token_edit, self.cdn_edit, self.sign_in_button):
            widget.setEnabled(not busy)
        self.sign_in_button.setDefault(True)  # disabling it let another button become the default

    def _succeeded(self, result: SignInResult) -> None:
        self._set_busy(False)
        self.token_edit.clear()
        self.signed_in.emit(result)
        self.check_done.emit(True)
        self.accept()

    def _failed(self, error: UploadError) -> None:
        self._set_busy(False)
        field = self.token_edit if isinstance(error, AuthError | AccessDeniedError) else self.api_url_edit
        self._fail(error.message, field)
        self.check_done.emit(False)

    def _fail(self, message: str, field: QLineEdit) -> None:
        self.message_label.show_error(message)
        field.setFocus(Qt.FocusReason.OtherFocusReason)
        field.selectAll()
