"""Test-wide environment: no display, no real home, no real AWS, no real keyring.

The environment is set at import time, before any test module can import Qt, boto3 or
platformdirs, so that nothing in the suite can touch the developer's own files or accounts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

_session_home = tempfile.mkdtemp(prefix="s3up-test-home-")
_runtime_dir = os.path.join(_session_home, "runtime")
os.makedirs(_runtime_dir, mode=0o700)

os.environ.update(
    {
        "QT_QPA_PLATFORM": "offscreen",
        "LANG": "C.UTF-8",
        "HOME": _session_home,
        "XDG_RUNTIME_DIR": _runtime_dir,
        "XDG_CONFIG_HOME": os.path.join(_session_home, "config"),
        "XDG_DATA_HOME": os.path.join(_session_home, "data"),
        "XDG_CACHE_HOME": os.path.join(_session_home, "cache"),
        "XDG_STATE_HOME": os.path.join(_session_home, "state"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "NO_PROXY": "127.0.0.1,localhost",
    }
)
for _var in (
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "DBUS_SESSION_BUS_ADDRESS",
    "S3UP_TOKEN",
    "AWS_PROFILE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
):
    os.environ.pop(_var, None)

import keyring  # noqa: E402  (imported after the environment is set)
from keyring.backend import KeyringBackend  # noqa: E402
from keyring.errors import PasswordDeleteError  # noqa: E402


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in this process only, so tests never touch the OS keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.secrets[(service, username)]
        except KeyError:
            raise PasswordDeleteError(f"no password for {username}") from None


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Every test starts with an empty in-memory keyring."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
