from __future__ import annotations

import sys

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringLocked

from app.core import credentials
from app.core.credentials import (
    SERVICE,
    CredentialStore,
    KeyringUnavailableError,
    TokenFormatError,
    clean_token,
)
from app.core.logs import redact

API = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"


class PlaintextKeyring(KeyringBackend):
    """Stands in for keyrings.alt.file.PlaintextKeyring: a token in clear on disk."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("a plain-text keyring must never be written to")

    def delete_password(self, service: str, username: str) -> None:
        return None


class LockedKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, *args: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    set_password = delete_password = get_password  # type: ignore[assignment]


class BrokenBusKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, *args: str) -> str | None:
        raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown: no such name")

    set_password = delete_password = get_password  # type: ignore[assignment]


def test_set_get_delete_with_the_url_normalised(memory_keyring) -> None:
    store = CredentialStore()
    assert store.get(API) is None
    store.set(API + "/", "tok-123")
    assert memory_keyring.secrets == {(SERVICE, API): "tok-123"}
    assert store.get(API) == "tok-123"
    assert store.get(f"  {API}// ") == "tok-123"
    store.delete(API)
    assert store.get(API) is None
    store.delete(API)  # already gone: fine


def test_backend_name_and_availability() -> None:
    store = CredentialStore()
    assert store.available()
    assert store.backend_name() == "in-memory (tests)"


def test_tokens_are_registered_for_redaction() -> None:
    store = CredentialStore()
    store.set(API, "secret-token-for-logs")
    assert "secret-token-for-logs" not in redact("sending secret-token-for-logs now")


@pytest.mark.parametrize(
    "backend", [fail.Keyring(), null.Keyring(), PlaintextKeyring()], ids=["fail", "null", "plaintext"]
)
def test_no_usable_keyring_refuses_to_store(backend: KeyringBackend) -> None:
    keyring.set_keyring(backend)
    store = CredentialStore()
    assert not store.available()
    assert store.backend_name() == "none"
    with pytest.raises(KeyringUnavailableError) as caught:
        store.set(API, "tok")
    assert caught.value.title == "No keyring available"
    assert credentials._HOW_TO_FIX in caught.value.message
    if sys.platform.startswith("linux"):
        assert "GNOME Keyring or KWallet" in caught.value.message
    assert store.get(API) is None  # nothing was stored, and reading does not fail
    store.delete(API)


def test_an_empty_chainer_counts_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    keyring.set_keyring(chainer.ChainerBackend())
    assert not CredentialStore().available()


def test_a_chainer_uses_its_best_real_member(monkeypatch: pytest.MonkeyPatch, memory_keyring) -> None:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [PlaintextKeyring(), memory_keyring])
    keyring.set_keyring(chainer.ChainerBackend())
    store = CredentialStore()
    store.set(API, "tok")
    assert memory_keyring.secrets == {(SERVICE, API): "tok"}
    assert store.backend_name() == "in-memory (tests)"


def test_a_locked_keyring_says_so() -> None:
    keyring.set_keyring(LockedKeyring())
    store = CredentialStore()
    for action in (lambda: store.set(API, "tok-123456"), lambda: store.get(API), lambda: store.delete(API)):
        with pytest.raises(KeyringUnavailableError) as caught:
            action()
        assert caught.value.title == "Keyring locked"
        assert "Unlock it" in caught.value.message


def test_backend_failures_are_wrapped() -> None:
    keyring.set_keyring(BrokenBusKeyring())
    with pytest.raises(KeyringUnavailableError) as caught:
        CredentialStore().set(API, "tok-123456")
    assert caught.value.title == "Keyring error"
    assert "ServiceUnknown" in caught.value.message
    assert credentials._HOW_TO_FIX in caught.value.message


def test_session_memory_comes_first_and_never_reaches_the_keyring(memory_keyring) -> None:
    keyring.set_keyring(fail.Keyring())
    store = CredentialStore()
    store.remember_for_session(API + "/", "session-tok")
    assert store.get(API) == "session-tok"
    assert CredentialStore().get(API) is None  # another store (process) does not see it
    store.forget_session(API)
    assert store.get(API) is None
    assert memory_keyring.secrets == {}


def test_storing_in_the_keyring_replaces_the_session_token() -> None:
    store = CredentialStore()
    store.remember_for_session(API, "old")
    store.set(API, "new")
    assert store.get(API) == "new"
    store.remember_for_session(API, "again")
    store.delete(API)
    assert store.get(API) is None


# --- clean_token: one gate for every token, wherever it comes from --------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["tok-123456\n", "  tok-123456  ", "\ttok-123456\r\n", "\ufefftok-123456\n", "\u200btok-123456\u00a0"],
)
def test_clean_token_trims_surrounding_white_space_and_invisible_marks(raw: str) -> None:
    assert clean_token(raw) == "tok-123456"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", "is empty"),
        (" \n ", "is empty"),
        ("tok 123456", "a space or a line break inside it"),
        ("tok\n123456", "a space or a line break inside it"),
        ("tok\u00a0123456", "a space or a line break inside it"),
        ("tok\x07123456", "control character (U+0007)"),
        ("tok\u200b123456", "control character (U+200B)"),
        ("tokén-ok-but-ł", "the character “ł” (U+0142), which an HTTP header cannot carry"),
        ("Bearer abcdefgh", 'starts with "Bearer "'),
    ],
)
def test_clean_token_refuses_what_cannot_be_sent_with_a_sentence_about_the_token(
    raw: str, words: str
) -> None:
    with pytest.raises(TokenFormatError) as caught:
        clean_token(raw, source="The token in $S3UP_TOKEN")
    assert caught.value.message.startswith("The token in $S3UP_TOKEN ")
    assert words in caught.value.message
    secret = raw.strip()
    if len(secret) > 8:
        assert secret not in caught.value.message  # the sentence never shows the token


def test_a_latin_1_token_is_usable_as_http_sends_it() -> None:
    assert clean_token(" tokén-123456 ") == "tokén-123456"
    "tokén-123456".encode("latin-1")  # what requests does with a header value


def test_clean_token_registers_the_token_for_redaction() -> None:
    clean_token("  registered-by-cleaning-42\n")
    assert "registered-by-cleaning-42" not in redact("Authorization sent registered-by-cleaning-42")


def test_the_store_trims_tokens_and_refuses_unusable_ones(memory_keyring) -> None:
    store = CredentialStore()
    store.set(API, "  tok-stored\n")
    assert memory_keyring.secrets == {(SERVICE, API): "tok-stored"}
    memory_keyring.secrets[(SERVICE, API)] = "tok-from-an-older-version\n"
    assert store.get(API) == "tok-from-an-older-version"
    memory_keyring.secrets[(SERVICE, API)] = "tok with space"
    with pytest.raises(TokenFormatError) as caught:
        store.get(API)
    assert caught.value.message.startswith(f"The token stored in the keyring for {API} has a space")
    assert caught.value.message.endswith("Sign in again to replace it.")
    with pytest.raises(TokenFormatError):
        store.set(API, "tøken\u2603")
    with pytest.raises(TokenFormatError):
        store.remember_for_session(API, "a\nb")
    store.remember_for_session(API, " session-tok ")
    assert store.get(API) == "session-tok"
