"""Redaction for anything logged: presigned-URL secrets, Authorization values and s3up tokens."""

from __future__ import annotations

import logging
import re

REDACTED = "REDACTED"
_PATTERNS = (
    re.compile(r"(?i)(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s\"'<>]+"),
    re.compile(r"(?i)(Authorization[\"']?\s*[:=]\s*[\"']?)(?:Bearer\s+)?[^\s\"',}]+"),
    re.compile(r"(?i)(Bearer\s+)[^\s\"',}]+"),
    re.compile(r"()s3up_[A-Za-z0-9_-]{16,}"),
)


def redact(text: str) -> str:
    """`text` with URL signatures, credentials, session tokens and API tokens replaced."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record's message and traceback before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
