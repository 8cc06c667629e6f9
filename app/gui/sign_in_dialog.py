"""Sign-in: the API URL, the token and (for APIs that return no links) the CDN base URL, checked off the
GUI thread, then the token stored in the OS keyring — or kept for this run when there is none.

The token passes `clean_token` first (spaces around it are dropped; one that cannot be sent is refused
with a sentence, before anything goes out). The existing deployment is recognised by the probe and named:
its token is only checked when the first upload starts, and it returns no links, so without a CDN base
URL the dialog says so and signs in only when asked again.
"""

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
from app.core.credentials import CredentialStore, KeyringUnavailableError, TokenFormatError, clean_token
from app.core.errors import AccessDeniedError, AuthError, UploadError
from app.core.settings import setting_problem
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


EXISTING_DEPLOYMENT = "This is the existing deployment: the token is checked when the first upload starts"


def probe(api_url: str, token: str) -> ApiInfo:
    """Ask the API what it is and, where it can, whether it accepts the token (network I/O)."""
    client = ApiClient(normalize_api_url(api_url), token, timeout=PROBE_TIMEOUT)
    try:
        return client.probe()
    finally:
        client.close()


def store(credentials: CredentialStore, info: ApiInfo, token: str, cdn_base_url: str) -> SignInResult:
    """Keep the token for `info.api_url`: in the keyring, else in memory for this run."""
    try:
        credentials.set(info.api_url, token)
    except KeyringUnavailableError as error:
        credentials.remember_for_session(info.api_url, token)
        return SignInResult(info, info.api_url, cdn_base_url, in_keyring=False, keyring_note=error.message)
    return SignInResult(info, info.api_url, cdn_base_url, in_keyring=True, keyring_note=None)


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
        # The existing deployment was found without a CDN base URL: (URL, token, what it is) until the
        # user asks again.
        self._probed: tuple[str, str, ApiInfo] | None = None
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
        if not api_url:
            self._fail("Enter the API URL.", self.api_url_edit)
            return
        if not self.token_edit.text().strip():
            self._fail("Enter the token you were given for this API.", self.token_edit)
            return
        try:
            token = clean_token(self.token_edit.text())
        except TokenFormatError as error:
            self._fail(error.message, self.token_edit)
            return
        cdn = self.cdn_edit.text().strip().rstrip("/")
        if problem := setting_problem("cdn_base_url", cdn):  # it could not be saved with the API URL
            self._fail(problem, self.cdn_edit)
            return
        self._set_busy(True)
        known = self._probed
        if known is not None and known[:2] == (api_url, token):  # asked again after the note: go on
            self._store(known[2], token, cdn)
            return
        self.message_label.show_info("Checking the token with the API…")
        self._bridge.submit(
            lambda: probe(api_url, token),
            on_result=lambda info: self._probed_api(api_url, token, info),
            on_error=self._failed,
            owner=self,  # nothing is delivered to a dialog closed meanwhile
        )

    def _probed_api(self, api_url: str, token: str, info: ApiInfo) -> None:
        """The API answered. The existing deployment without a CDN base URL gives no links: say so once,
        and sign in when the user asks again (with or without the URL)."""
        cdn = self.cdn_edit.text().strip().rstrip("/")
        if not info.extended and not cdn:
            self._probed = (api_url, token, info)
            self._set_busy(False)
            self.message_label.show_warning(
                f"{EXISTING_DEPLOYMENT}, and it returns no links. Enter its CDN base URL to get a link for "
                "each file, or choose Sign In again to go on without links."
            )
            self.cdn_edit.setFocus(Qt.FocusReason.OtherFocusReason)
            self.check_done.emit(False)
            return
        self._store(info, token, cdn)

    def _store(self, info: ApiInfo, token: str, cdn: str) -> None:
        self.message_label.show_info("Storing the token…")
        self._bridge.submit(
            lambda: store(self._credentials, info, token, cdn),
            on_result=self._succeeded,
            on_error=self._failed,
            owner=self,
        )

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.api_url_edit, self.token_edit, self.cdn_edit, self.sign_in_button):
            widget.setEnabled(not busy)
        self.sign_in_button.setDefault(True)  # disabling it let another button become the default

    def _succeeded(self, result: SignInResult) -> None:
        self._set_busy(False)
        self.token_edit.clear()
        self._probed = None
        self.signed_in.emit(result)
        self.check_done.emit(True)
        self.accept()

    def _failed(self, error: UploadError) -> None:
        self._set_busy(False)
        self._probed = None
        field = self.token_edit if isinstance(error, AuthError | AccessDeniedError) else self.api_url_edit
        self._fail(error.message, field)
        self.check_done.emit(False)

    def _fail(self, message: str, field: QLineEdit) -> None:
        self.message_label.show_error(message)
        field.setFocus(Qt.FocusReason.OtherFocusReason)
        field.selectAll()
