"""Sign-in checks the token against the API off the GUI thread, stores it in the (test) keyring, and
says what went wrong in words a person can act on."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

import keyring
import pytest
import shiboken6
from keyring.backends.fail import Keyring as FailKeyring
from PySide6.QtCore import Qt

from app.core.api_records import ApiInfo
from app.core.credentials import SERVICE, CredentialStore
from app.core.settings import AppSettings
from app.gui import sign_in_dialog
from app.gui.bridge import UploadBridge
from app.gui.sign_in_dialog import SignInDialog
from backend.local import LocalStack

pytestmark = pytest.mark.slow


@pytest.fixture
def bridge(qtbot, fake_manager):
    bridge = UploadBridge(fake_manager)
    yield bridge
    bridge.shutdown()


def make_dialog(qtbot, bridge, credentials: CredentialStore, api_url: str = "") -> SignInDialog:
    dialog = SignInDialog(bridge, credentials, api_url=api_url)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def sign_in(qtbot, dialog: SignInDialog, token: str, *, press_enter: bool = False) -> bool:
    """Type `token` and sign in (the button, or Enter in the token field); wait for the API's answer,
    which may close (and delete) the dialog. True when the API accepted the token."""
    dialog.token_edit.setText(token)
    with qtbot.waitSignal(dialog.check_done, timeout=20000) as answer:
        if press_enter:
            qtbot.keyClick(dialog.token_edit, Qt.Key.Key_Return)
        else:
            qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
        assert not dialog.sign_in_button.isEnabled()  # checking, off the GUI thread
    return answer.args[0]


def test_a_good_token_is_stored_in_the_keyring(
    qtbot, bridge, credentials, local_stack, memory_keyring
) -> None:
    dialog = make_dialog(qtbot, bridge, credentials, api_url=local_stack.api_url + "/")
    qtbot.waitUntil(lambda: "in-memory (tests)" in dialog.keyring_label.text(), timeout=5000)
    results = []
    dialog.signed_in.connect(results.append)
    sign_in(qtbot, dialog, local_stack.token)
    assert not dialog.isVisible()
    assert memory_keyring.secrets == {(SERVICE, local_stack.api_url): local_stack.token}
    (result,) = results
    assert result.in_keyring
    assert result.info.extended
    assert result.info.principal == "local-user"
    assert dialog.token_edit.text() == ""  # the token does not linger in the widget


def test_a_rejected_token_says_so_and_stores_nothing(
    qtbot, bridge, credentials, local_stack, memory_keyring
) -> None:
    dialog = make_dialog(qtbot, bridge, credentials, api_url=local_stack.api_url)
    sign_in(qtbot, dialog, "not-a-token")
    assert dialog.isVisible()
    assert dialog.message_label.kind == "error"
    assert "token" in dialog.message_label.text().lower()
    assert dialog.token_edit.hasFocus()
    assert memory_keyring.secrets == {}


def test_after_a_rejected_token_enter_still_signs_in(
    qtbot, bridge, credentials, local_stack, memory_keyring
) -> None:
    """Issue 14 item 1: after a failed attempt, Sign In stays the default button: Enter signs in."""
    dialog = make_dialog(qtbot, bridge, credentials, api_url=local_stack.api_url)
    assert not sign_in(qtbot, dialog, "not-a-token", press_enter=True)
    assert dialog.isVisible()
    assert dialog.sign_in_button.isDefault()
    assert not any(
        button.isDefault() for button in dialog.buttons.buttons() if button is not dialog.sign_in_button
    )
    results = []
    dialog.signed_in.connect(results.append)
    assert sign_in(qtbot, dialog, local_stack.token, press_enter=True)
    assert len(results) == 1
    assert memory_keyring.secrets == {(SERVICE, local_stack.api_url): local_stack.token}


def test_an_unreachable_api_says_so(qtbot, bridge, credentials) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dialog = make_dialog(qtbot, bridge, credentials, api_url=f"http://127.0.0.1:{port}/prod")
    sign_in(qtbot, dialog, "some-token")
    assert dialog.message_label.kind == "error"
    assert "reach" in dialog.message_label.text().lower()
    assert dialog.api_url_edit.hasFocus()


def test_an_address_that_is_not_the_api_says_so(qtbot, bridge, credentials, local_stack) -> None:
    dialog = make_dialog(qtbot, bridge, credentials, api_url=local_stack.cdn_base_url)
    sign_in(qtbot, dialog, local_stack.token)
    assert dialog.message_label.kind == "error"
    assert "not the upload API" in dialog.message_label.text()
    assert dialog.api_url_edit.hasFocus()


def test_a_cdn_url_without_its_scheme_is_refused_before_anything_is_sent(qtbot, bridge, credentials) -> None:
    """It could not be saved with the API URL, so the next start would forget the API too."""
    dialog = make_dialog(qtbot, bridge, credentials, api_url="https://api.example.test/prod")
    dialog.token_edit.setText("a-token")
    dialog.cdn_edit.setText("d111.cloudfront.net")
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert "The CDN base URL must start with https://" in dialog.message_label.text()
    assert dialog.sign_in_button.isEnabled(), "nothing was sent"


def test_empty_fields_are_asked_for_before_anything_is_sent(qtbot, bridge, credentials) -> None:
    dialog = make_dialog(qtbot, bridge, credentials)
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert dialog.message_label.text() == "Enter the API URL."
    dialog.api_url_edit.setText("https://api.example.test/prod")
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert dialog.message_label.text() == "Enter the token you were given for this API."


def test_without_a_keyring_the_token_is_kept_for_this_run_and_the_user_is_told(
    qtbot, bridge, credentials, local_stack
) -> None:
    keyring.set_keyring(FailKeyring())  # the autouse fixture puts the memory keyring back afterwards
    dialog = make_dialog(qtbot, bridge, credentials, api_url=local_stack.api_url)
    qtbot.waitUntil(lambda: dialog.keyring_label.kind == "warning", timeout=5000)
    assert "in memory until you quit" in dialog.keyring_label.text()
    results = []
    dialog.signed_in.connect(results.append)
    sign_in(qtbot, dialog, local_stack.token)
    (result,) = results
    assert not result.in_keyring
    assert credentials.get(local_stack.api_url) == local_stack.token  # from the session memory


def test_the_existing_deployment_is_named_and_without_a_cdn_url_signs_in_when_asked_again(
    qtbot, make_window, fake_manager, memory_keyring
) -> None:
    """Issue 10: the sign-in recognises the existing deployment (as API Gateway answers it) and says so;
    it gives no links, so without a CDN base URL the dialog says that first."""
    with LocalStack(port=0, core_only=True) as stack:
        window = make_window(fake_manager, signed_in=False, settings=AppSettings())
        qtbot.waitUntil(
            lambda: window.sign_in_dialog is not None and window.sign_in_dialog.isVisible(), timeout=5000
        )
        dialog = window.sign_in_dialog
        dialog.api_url_edit.setText(stack.api_url)
        assert not sign_in(qtbot, dialog, stack.token)
        assert dialog.isVisible()
        assert dialog.message_label.kind == "warning"
        note = dialog.message_label.text()
        assert note.startswith("This is the existing deployment: the token is checked when the first upload")
        assert "Enter its CDN base URL" in note
        assert dialog.focusWidget() is dialog.cdn_edit
        assert dialog.sign_in_button.isDefault()
        assert memory_keyring.secrets == {}  # not signed in yet

        assert sign_in(qtbot, dialog, stack.token, press_enter=True)  # "Sign In again": without links
        qtbot.waitUntil(lambda: window.sign_in_dialog is None, timeout=10000)
        message = window.statusBar().currentMessage()
        assert "This is the existing deployment: the token is checked when the first upload starts" in message
        assert "set a CDN base URL in Settings" in message
        assert window.session.signed_in
        host = urlsplit(stack.api_url).netloc
        assert window.api_label.text() == f"Signed in to {host} (existing deployment)"
        qtbot.waitUntil(lambda: ("credentials_changed", stack.api_url) in fake_manager.calls, timeout=3000)
        assert memory_keyring.secrets == {(SERVICE, stack.api_url): stack.token}


def test_the_existing_deployment_with_a_cdn_url_signs_in_at_once_and_says_where_links_come_from(
    qtbot, make_window, fake_manager
) -> None:
    with LocalStack(port=0, core_only=True) as stack:
        window = make_window(fake_manager, signed_in=False, settings=AppSettings())
        qtbot.waitUntil(lambda: window.sign_in_dialog is not None, timeout=5000)
        dialog = window.sign_in_dialog
        dialog.api_url_edit.setText(stack.api_url)
        dialog.cdn_edit.setText(stack.cdn_base_url + "/")
        assert sign_in(qtbot, dialog, stack.token)
        qtbot.waitUntil(lambda: window.sign_in_dialog is None, timeout=10000)
        message = window.statusBar().currentMessage()
        assert "This is the existing deployment" in message
        assert "links are made from the CDN base URL you gave" in message
        assert window.session.cdn_base_url == stack.cdn_base_url


def test_spaces_and_line_breaks_around_a_pasted_token_are_dropped(
    qtbot, bridge, credentials, local_stack, memory_keyring
) -> None:
    dialog = make_dialog(qtbot, bridge, credentials, api_url=local_stack.api_url)
    assert sign_in(qtbot, dialog, f"  {local_stack.token}\r\n")
    assert memory_keyring.secrets == {(SERVICE, local_stack.api_url): local_stack.token}


@pytest.mark.parametrize(
    ("token", "said"),
    [
        ("first-half second-half", "has a space or a line break inside it"),
        ("token-with\x07bell-inside", "invisible or control character (U+0007)"),
        ("token-with-€-sign", "which an HTTP header cannot carry"),
    ],
)
def test_a_token_that_cannot_be_sent_is_refused_with_a_sentence_before_anything_is_sent(
    qtbot, bridge, credentials, memory_keyring, token, said
) -> None:
    dialog = make_dialog(qtbot, bridge, credentials, api_url="http://127.0.0.1:9/prod")  # nothing listens
    checks: list[bool] = []
    dialog.check_done.connect(checks.append)
    dialog.token_edit.setText(token)
    qtbot.keyClick(dialog.token_edit, Qt.Key.Key_Return)
    assert dialog.message_label.kind == "error"
    assert dialog.message_label.text().startswith("The token ")
    assert said in dialog.message_label.text()
    assert token not in dialog.message_label.text()  # the sentence is about the token, never shows it
    assert dialog.sign_in_button.isEnabled()
    assert dialog.sign_in_button.isDefault()
    assert dialog.focusWidget() is dialog.token_edit
    assert checks == []  # refused before any request
    assert memory_keyring.secrets == {}


def test_a_dialog_closed_while_the_token_is_checked_hears_nothing_more(
    qtbot, bridge, credentials, memory_keyring, monkeypatch
) -> None:
    answering = threading.Event()
    release = threading.Event()

    def slow_probe(api_url: str, token: str) -> ApiInfo:
        answering.set()
        release.wait(10)
        return ApiInfo(api_url, extended=True, token_verified=True)  # the token is good

    monkeypatch.setattr(sign_in_dialog, "probe", slow_probe)
    dialog = SignInDialog(bridge, credentials, api_url="http://127.0.0.1:9/prod")
    dialog.show()
    dialog.token_edit.setText("a-token-of-some-length")
    qtbot.keyClick(dialog.token_edit, Qt.Key.Key_Return)
    assert answering.wait(10)
    deleted = shiboken6.delete(dialog)  # the user closed it: Qt deletes it
    errors: list[str] = []
    bridge.error_occurred.connect(errors.append)

    release.set()
    qtbot.wait(300)  # the answer arrives on the GUI thread meanwhile; nothing may be called with it

    assert deleted is None
    assert errors == []
    assert memory_keyring.secrets == {}  # nothing was stored for a dialog the user closed
