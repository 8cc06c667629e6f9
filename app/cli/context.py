"""What every `s3up` command shares: its exit statuses, the error it stops with, and which API it talks to.

A command that cannot start raises `CliError` (or lets the core's `UploadError` through): `run_command`
prints its sentence and exits 2.
"""

from __future__ import annotations

import argparse

from app.cli.tokens import given_token, no_token_sentence
from app.core.api import normalize_api_url
from app.core.credentials import CredentialStore
from app.core.settings import AppSettings, load_settings, save_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PAUSED_OUTCOME = "what was started is paused, and `s3up resume --all` continues it"


class CliError(Exception):
    """A problem found before anything was uploaded; the message is printed as is."""


def api_url_of(given: str | None) -> str:
    """The API the command talks to: `--api`, else the last one used; a sentence when there is none."""
    url = given or load_settings().api_url
    if not url:
        raise CliError("No API URL: pass --api https://…/prod (it is remembered for next time).")
    return normalize_api_url(url)


def remember_api(api_url: str, cdn_base_url: str | None = None) -> None:
    """Make `api_url` the default of the next command, with `cdn_base_url` when given. A CDN belongs to
    its API: another API's is forgotten."""
    settings = load_settings()
    cdn = cdn_base_url or _saved_cdn(settings, api_url) or ""
    if (settings.api_url, settings.cdn_base_url) != (api_url, cdn):
        settings.api_url, settings.cdn_base_url = api_url, cdn
        save_settings(settings)


def cdn_of(api_url: str, given: str | None) -> str | None:
    """The links' base: `--cdn-base-url`, else the one saved with this API (by the app or an earlier
    command)."""
    return given or _saved_cdn(load_settings(), api_url)


def _saved_cdn(settings: AppSettings, api_url: str) -> str | None:
    """The CDN base URL saved with `api_url` (the app's, or an earlier command's)."""
    return (settings.cdn_base_url or None) if settings.api_url == api_url else None


def token_for(api_url: str, args: argparse.Namespace) -> str:
    """The token for one API: the one given to this command, else the keyring's; a sentence when none."""
    token = given_token(args) or CredentialStore().get(api_url)
    if not token:
        raise CliError(no_token_sentence(api_url))
    return token
