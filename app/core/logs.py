"""The rotating log file, and the redaction that keeps tokens and URL signatures out of every log line.

`redact` replaces presigned-URL signatures and credentials, ``Authorization`` header values, ``Bearer``
tokens and every secret passed to `register_secret` with ``REDACTED``. `setup_logging` installs a
rotating file handler (and optionally a console handler) on the root logger, each with a
`RedactingFilter`, so records of every library (requests, urllib3, keyring…) are redacted too. The log
file and its rotated copies are readable by their owner only (0600 in a 0700 folder, on POSIX).
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import re
import sys
import threading
from pathlib import Path
from urllib.parse import quote

from app.core.paths import log_dir, private_dir, private_file

REDACTED = "REDACTED"
LOG_FILENAME = "s3up.log"
MAX_LOG_BYTES = 2 * 1024 * 1024
LOG_BACKUPS = 5
MIN_SECRET_LENGTH = 6
_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"

_QUERY_SECRET = re.compile(
    r"(?i)\b(X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|Credential|AWSAccessKeyId)"
    r"=[^&\s\"'<>,]+"
)
# S3's SignatureDoesNotMatch answer repeats the signature and the access key in XML.
_XML_SECRET = re.compile(r"(?i)<(SignatureProvided|AWSAccessKeyId|X-Amz-Security-Token)>[^<]*</\1>")
# A header line ("Authorization: …") or a header in a dict or JSON ("'Authorization': '…'").
_HEADER_SECRET = re.compile(r"(?i)(\b(?:authorization|x-amz-security-token)[\"']?\s*:\s*[\"']?)[^\"'\r\n,}]+")
_BEARER = re.compile(r"(?i)\bBearer\s+[A-Za-z0-9\-._~+/]+=*")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(secret: str) -> None:
    """Make `redact` hide `secret` (and its URL-encoded form) from now on, in this process only.

    This set is the only place a token is kept for logging purposes; it is never written anywhere.
    Strings shorter than `MIN_SECRET_LENGTH` are ignored: they are no real secret, and replacing them
    everywhere would garble every line.
    """
    secret = secret.strip()
    if len(secret) < MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        _secrets.update({secret, quote(secret, safe="")})


def redact(text: str) -> str:
    """`text` with signatures, credentials, authorization values and registered secrets replaced."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = _QUERY_SECRET.sub(rf"\1={REDACTED}", text)
    text = _XML_SECRET.sub(rf"<\1>{REDACTED}</\1>", text)
    text = _HEADER_SECRET.sub(rf"\1{REDACTED}", text)
    return _BEARER.sub(f"Bearer {REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Redacts a record in place: its message merged with its args, its traceback and its stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, redacted
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Creates the log file (at start and after each rotation) readable by its owner only."""

    def _open(self) -> io.TextIOWrapper:
        private_file(Path(self.baseFilename))
        return super()._open()


_installed: list[logging.Handler] = []
_installed_lock = threading.Lock()


def setup_logging(
    directory: Path | None = None,
    level: int = logging.INFO,
    console: bool = False,
    *,
    max_bytes: int = MAX_LOG_BYTES,
    backups: int = LOG_BACKUPS,
    filename: str = LOG_FILENAME,
) -> Path:
    """Log to ``<directory or log_dir()>/<filename>`` (rotating, `backups` × `max_bytes`) and return its
    path. Each process writes a file of its own (the app's engine process: ``s3up-engine.log``).

    Idempotent: calling it again replaces the handlers it installed before (no duplicate lines).
    The folder and every file in it (rotated ones too) are readable by their owner only, where the OS
    allows; looser ones left by older versions are tightened.
    """
    directory = directory if directory is not None else log_dir()
    private_dir(directory)
    for old_log in directory.glob(f"{filename}*"):  # rotated by an older version, perhaps 0644
        private_file(old_log)
    path = directory / filename
    file_handler = _PrivateRotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handlers: list[logging.Handler] = [file_handler]
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    formatter = logging.Formatter(_FORMAT)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    with _installed_lock:
        for old in _installed:
            root.removeHandler(old)
            old.close()
        _installed[:] = handlers
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    return path
