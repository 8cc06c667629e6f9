"""The API token in the operating system's keyring (service ``s3up``, account = the API URL).

Only real secret stores count: keyring's fail/null backends, an empty chainer and the plain-text or
file backends of ``keyrings.alt`` are refused, so a token is never written to disk in clear. When
there is no usable keyring, `set` raises `KeyringUnavailableError` (with a title and a message for the
user) and the caller may keep the token for this run only with `remember_for_session`.

`clean_token` is the one gate every token passes, wherever it comes from (a command-line option, an
environment variable, a file, the keyring, the sign-in dialog): surrounding white space is trimmed, a
token that cannot be sent in an HTTP header is refused with a sentence, and the token is registered with
`app.core.logs.register_secret`, so the log never shows it. ``keyring`` is imported on first use, so
importing this module costs nothing.
"""

from __future__ import annotations

import logging
import sys
import threading
import unicodedata
from typing import TYPE_CHECKING

from app.core.api import normalize_api_url
from app.core.errors import UploadError
from app.core.logs import register_secret

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

SERVICE = "s3up"

log = logging.getLogger(__name__)

# Backends (by module, then class name) that are no secret store.
_REFUSED_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt.file")
_REFUSED_CLASS_WORDS = ("plaintext", "uncrypted", "unencrypted")

_FRIENDLY_NAMES = {
    "keyring.backends.SecretService": "Secret Service",
    "keyring.backends.libsecret": "Secret Service (libsecret)",
    "keyring.backends.kwallet": "KWallet",
    "keyring.backends.macOS": "macOS Keychain",
    "keyring.backends.Windows": "Windows Credential Locker",
}

_HOW_TO_FIX = {
    "darwin": "Check that your login Keychain is unlocked (in Keychain Access), then sign in again.",
    "win32": "Check that the Windows Credential Manager works for your account, then sign in again.",
}.get(
    sys.platform,
    "Install and unlock a Secret Service keyring such as GNOME Keyring or KWallet (it needs a desktop "
    "session with D-Bus), then sign in again.",
)


# Invisible characters that copying from a web page or a Windows editor leaves around a token.
_INVISIBLE_EDGES = "\ufeff\u200b\u200c\u200d\u2060"


class TokenFormatError(UploadError):
    """A token that cannot be used as given; `message` says what is wrong with it (never the token)."""


def clean_token(raw: str, *, source: str = "The token") -> str:
    """The token in `raw` without surrounding white space (and invisible marks), registered with the log
    redactor.

    Raises `TokenFormatError` when nothing is left, or when the token has white space or a control
    character inside it, or a character that an HTTP header cannot carry (headers are Latin-1). `source`
    starts the sentence and says where the token came from, e.g. "The token in $S3UP_TOKEN".
    """
    token = raw.strip().strip(_INVISIBLE_EDGES).strip()
    if not token:
        raise TokenFormatError(f"{source} is empty; give the whole token.")
    register_secret(token)  # even a refused token must not reach a log
    if token.lower().startswith("bearer ") and len(token.split()) == 2:
        raise TokenFormatError(f'{source} starts with "Bearer "; give the token alone, without that word.')
    for char in token:
        if char.isspace():
            raise TokenFormatError(
                f"{source} has a space or a line break inside it; a token is one word. Check that you "
                "copied the whole token and nothing else."
            )
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise TokenFormatError(
                f"{source} holds an invisible or control character (U+{ord(char):04X}); copy the token "
                "again, as plain text."
            )
        if ord(char) > 0xFF:
            raise TokenFormatError(
                f"{source} holds the character “{char}” (U+{ord(char):04X}), which an HTTP header cannot "
                "carry; check that you copied the token itself."
            )
    return token


class KeyringUnavailableError(UploadError):
    """No usable keyring, or the keyring failed.

    `title` is a few words for a dialog's title; `message` says what happened and what to do.
    """

    def __init__(self, title: str, message: str) -> None:
        super().__init__(f"{title}: {message}")
        self.title = title
        self.message = message


def _acceptable(backend: KeyringBackend) -> bool:
    cls = type(backend)
    if cls.__module__.startswith(_REFUSED_MODULES):
        return False
    return not any(word in cls.__name__.lower() for word in _REFUSED_CLASS_WORDS)


def _describe(backend: KeyringBackend) -> str:
    cls = type(backend)
    if cls.__module__ in _FRIENDLY_NAMES:
        return _FRIENDLY_NAMES[cls.__module__]
    if "memory" in cls.__name__.lower():
        return "in-memory (tests)"
    return str(cls.name)


class CredentialStore:
    """Tokens by API URL: in the session memory first, then in the OS keyring. Thread-safe."""

    def __init__(self) -> None:
        self._session: dict[str, str] = {}
        self._lock = threading.Lock()
        # (keyring's configured backend, the one we use): a chainer's members are costly to find.
        self._resolved: tuple[object, KeyringBackend | None] | None = None

    # --- the keyring ---------------------------------------------------------------------------------

    def _backend(self) -> KeyringBackend | None:
        """The keyring backend that would be used, or None when there is no acceptable one.

        A chainer is resolved to its first acceptable member, so that a locked secret store never
        silently falls through to a weaker backend.
        """
        try:
            import keyring
            from keyring.backends.chainer import ChainerBackend

            configured = keyring.get_keyring()
            resolved = self._resolved
            if resolved is not None and resolved[0] is configured:
                return resolved[1]
            candidates = list(configured.backends) if isinstance(configured, ChainerBackend) else [configured]
        except Exception as error:
            log.warning("The keyring could not be loaded: %s", error, exc_info=True)
            return None
        backend = next((candidate for candidate in candidates if _acceptable(candidate)), None)
        self._resolved = (configured, backend)
        return backend

    def _require_backend(self) -> KeyringBackend:
        backend = self._backend()
        if backend is None:
            raise KeyringUnavailableError(
                "No keyring available",
                f"This computer has no keyring service that s3up can use to store the token safely. "
                f"{_HOW_TO_FIX}",
            )
        return backend

    def _failure(self, action: str, error: Exception) -> KeyringUnavailableError:
        log.warning("The keyring failed to %s: %s", action, error, exc_info=True)
        text = str(error).lower()
        if type(error).__name__ == "KeyringLocked" or "locked" in text or "unlock" in text:
            return KeyringUnavailableError(
                "Keyring locked",
                f"The keyring is locked, so s3up could not {action} the token. "
                "Unlock it (for example by logging in to your desktop session) and try again.",
            )
        return KeyringUnavailableError(
            "Keyring error",
            f"The keyring ({self.backend_name()}) could not {action} the token: {error}. {_HOW_TO_FIX}",
        )

    def require_keyring(self) -> None:
        """Raise `KeyringUnavailableError` (saying what to do) when there is no usable keyring."""
        self._require_backend()

    def available(self) -> bool:
        """True when an acceptable keyring backend is configured (it may still be locked)."""
        return self._backend() is not None

    def backend_name(self) -> str:
        """A human-readable name of the keyring in use, e.g. "Secret Service", or "none"."""
        backend = self._backend()
        return _describe(backend) if backend is not None else "none"

    # --- tokens --------------------------------------------------------------------------------------

    def get(self, api_url: str) -> str | None:
        """The token for this API: from the session memory, else from the keyring, else None.

        Returns None when there is no usable keyring (nothing can be stored there); raises
        `KeyringUnavailableError` when the keyring exists but fails (e.g. it is locked).
        """
        account = normalize_api_url(api_url)
        with self._lock:
            if account in self._session:
                return self._session[account]
        backend = self._backend()
        if backend is None:
            return None
        try:
            token = backend.get_password(SERVICE, account)
        except Exception as error:
            raise self._failure("read", error) from error
        if not token:
            return None
        try:
            return clean_token(token, source=f"The token stored in the keyring for {account}")
        except TokenFormatError as error:
            raise TokenFormatError(f"{error.message} Sign in again to replace it.") from None

    def set(self, api_url: str, token: str) -> None:
        """Store the token in the keyring (replacing a session-only one for this API).

        Raises `TokenFormatError` for a token `clean_token` refuses, and `KeyringUnavailableError` when it
        cannot be stored; nothing is stored anywhere then.
        """
        token = clean_token(token)
        backend = self._require_backend()
        account = normalize_api_url(api_url)
        try:
            backend.set_password(SERVICE, account, token)
        except Exception as error:
            raise self._failure("store", error) from error
        self.forget_session(account)

    def delete(self, api_url: str) -> bool:
        """Forget the token, in the session memory and in the keyring. A missing token is fine: False
        says the keyring held none (or there is no keyring)."""
        account = normalize_api_url(api_url)
        self.forget_session(account)
        backend = self._backend()
        if backend is None:
            return False
        from keyring.errors import PasswordDeleteError

        try:
            backend.delete_password(SERVICE, account)
        except PasswordDeleteError:
            return False  # there was none
        except Exception as error:
            raise self._failure("delete", error) from error
        return True

    def remember_for_session(self, api_url: str, token: str) -> None:
        """Keep the token in this process only (never on disk); `get` returns it before the keyring's.

        Raises `TokenFormatError` for a token `clean_token` refuses."""
        token = clean_token(token)
        with self._lock:
            self._session[normalize_api_url(api_url)] = token

    def forget_session(self, api_url: str) -> None:
        """Drop the session-only token for this API, if any."""
        with self._lock:
            self._session.pop(normalize_api_url(api_url), None)
