"""Where a command's token comes from: --token, --token-file (a file or standard input), $S3UP_TOKEN, the
keyring. Every token, from any of them, passes `clean_token` (trimmed, checked, registered with the log
redactor) before it is used.
"""

from __future__ import annotations

import argparse
import getpass
import os
import stat
import sys
from collections.abc import Iterable

from app.cli.parser import TOKEN_ENV
from app.core.credentials import CredentialStore, clean_token
from app.core.errors import UploadError

MAX_TOKEN_FILE_BYTES = 16 * 1024
NO_KEYRING_HINT = (
    f"Without a keyring, give the token to each command with --token-file PATH (or --token-file - to "
    f"read it from standard input) or ${TOKEN_ENV}; --token TOKEN works too, but other users can see it."
)


class TokenSourceError(UploadError):
    """The token could not be read from where the user pointed; `message` says why."""


def given_token(args: argparse.Namespace, *, use_environment: bool = True) -> str | None:
    """The token given to this command: --token, else --token-file, else $S3UP_TOKEN (when
    `use_environment`); None when none was given. Raises `TokenFormatError` / `TokenSourceError`."""
    if args.token is not None:
        return clean_token(args.token, source="The token given with --token")
    if args.token_file is not None:
        return read_token_file(args.token_file)
    value = os.environ.get(TOKEN_ENV, "") if use_environment else ""
    return clean_token(value, source=f"The token in ${TOKEN_ENV}") if value.strip() else None


def read_token_file(name: str, *, prompt: str = "Token: ") -> str:
    """The token in the file `name`, or on standard input for "-" (asked without echo on a terminal)."""
    if name == "-":
        if sys.stdin is not None and sys.stdin.isatty():
            return clean_token(getpass.getpass(prompt), source="The token you typed")
        text = sys.stdin.read(MAX_TOKEN_FILE_BYTES + 1) if sys.stdin is not None else ""
        return clean_token(_bounded(text, "standard input"), source="The token read from standard input")
    try:
        with open(name, "rb") as file:
            info = os.fstat(file.fileno())
            data = file.read(MAX_TOKEN_FILE_BYTES + 1)
    except OSError as error:
        raise TokenSourceError(f"Cannot read the token file {name}: {error.strerror or error}.") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TokenSourceError(
            f"The token file {name} is not text (UTF-8); it should hold the token alone."
        ) from None
    token = clean_token(_bounded(text, f"the token file {name}"), source=f"The token in {name}")
    if os.name == "posix" and stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
        print(
            f"s3up: note: other users of this computer may read the token file {name}; "
            f"`chmod 600 {name}` keeps it yours.",
            file=sys.stderr,
        )
    return token


def _bounded(text: str, where: str) -> str:
    if len(text.encode()) > MAX_TOKEN_FILE_BYTES:
        raise TokenSourceError(
            f"There is more than {MAX_TOKEN_FILE_BYTES // 1024} KiB in {where}; it should hold the token "
            "alone."
        )
    return text


def tokens_by_api(
    api_urls: Iterable[str], given: str | None, store: CredentialStore
) -> tuple[dict[str, str], list[str]]:
    """The token for each API (the given one for all, else each one's from the keyring), read now on this
    thread so that a keyring or token problem is said before anything starts; and the APIs without one."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for api_url in dict.fromkeys(api_urls):
        token = given or store.get(api_url)
        if token:
            found[api_url] = token
        else:
            missing.append(api_url)
    return found, missing


def no_token_sentence(api_url: str) -> str:
    return (
        f"No token for {api_url}: run `s3up login --api {api_url}`, or give one with --token-file PATH "
        f"(- for standard input) or ${TOKEN_ENV}."
    )
