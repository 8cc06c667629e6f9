"""Errors the core raises to its callers, each carrying a sentence written for the user.

`UploadError` is the root of every error the core raises to the CLI and the app (the journal's
`JournalError`, `ownership.BusyElsewhereError`, `credentials.KeyringUnavailableError`,
`metadata.MetadataError`, `keys.KeyTemplateError`, `settings.SettingsError` and the API's errors
below), so a caller that catches `UploadError` shows `error.message` and is done.

`transient` tells the engine whether trying again later may help; `needs_sign_in` whether a new
token would.
"""

from __future__ import annotations


class UploadError(Exception):
    """Base class: `message` is what the user reads; `str(error)` is the same sentence."""

    transient = False
    needs_sign_in = False

    def __init__(self, message: str, *, status: int | None = None, server_message: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # the HTTP status behind it, if any
        self.server_message = server_message  # the API's own words, if any


class InvalidRequestError(UploadError):
    """The request cannot work as asked (bad key, file too large, bad metadata...)."""


class ApiUnreachableError(UploadError):
    """The API could not be reached at all (DNS, refused connection, TLS, time-out)."""

    transient = True


class NotThisApiError(UploadError):
    """Something answered, but it is not the upload API (wrong URL or stage)."""


class RouteMissingError(NotThisApiError):
    """API Gateway has no such route: an extension route on the existing deployment, or a wrong URL."""


class AuthError(UploadError):
    """The token is missing, unknown, expired or revoked: sign in again."""

    needs_sign_in = True


class AccessDeniedError(UploadError):
    """The token is valid but not allowed to do this."""


class ConflictError(UploadError):
    """An object already exists at the key and overwriting was not asked for."""


class UploadGoneError(UploadError):
    """The server no longer knows this multipart upload (aborted or expired)."""


class UploadFinishedError(UploadError):
    """The server has already finished this upload (e.g. the process died right after completing it)."""


class ServerError(UploadError):
    """The API or S3 failed in a way that may pass (5xx, throttling, a timed-out call)."""

    transient = True


class FileChangedError(UploadError):
    """The file was changed since its upload began."""


class FileMissingError(FileChangedError):
    """The file was deleted or moved (or can no longer be read) since its upload began."""


class IntegrityError(UploadError):
    """S3 stored bytes other than those sent (the ETag is not the part's MD5)."""

    transient = True
