"""Object-key rules and the Content-Type an object gets.

`check_key` raises `ApiError` (400, or 403 outside the caller's prefix) with a message that says
what to change; a key it accepts is safe to use as an S3 key and as a CDN URL path.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

from backend.apigw import ApiError, ErrorType, bad_request

MAX_KEY_BYTES = 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_CONTENT_TYPE = re.compile(
    r"^[A-Za-z0-9][\w!#$&.+^-]*/[\w!#$&.+^-]+(\s*;\s*[\w.+-]+=[\w.+\-\"]+)*$", re.ASCII
)
# Python's built-in table only (not the machine's /etc/mime.types, so every host answers alike),
# plus formats common among very large files that the table lacks.
_TYPES = mimetypes.MimeTypes(filenames=())
_EXTRA_TYPES = {
    ".7z": "application/x-7z-compressed",
    ".bz2": "application/x-bzip2",
    ".dng": "image/x-adobe-dng",
    ".flac": "audio/flac",
    ".gz": "application/gzip",
    ".iso": "application/x-iso9660-image",
    ".mkv": "video/x-matroska",
    ".parquet": "application/vnd.apache.parquet",
    ".tgz": "application/gzip",
    ".webp": "image/webp",
    ".xz": "application/x-xz",
    ".zst": "application/zstd",
}


def key_problem(key: str) -> str | None:
    """What is wrong with `key` as an object key, or None when it is acceptable."""
    if not key:
        return "is empty"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"is longer than {MAX_KEY_BYTES} bytes in UTF-8"
    if key.startswith("/"):
        return 'starts with "/"; give the path inside the bucket without a leading slash'
    if "\\" in key:
        return 'contains a backslash; use "/" between folders'
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        return "contains a control character (such as a newline or tab)"
    if key.endswith("/"):
        return 'ends with "/"; it must name a file, not a folder'
    if any(segment in (".", "..") for segment in key.split("/")):
        return 'contains a "." or ".." path segment'
    return None


def check_key(key: str, *, field: str, prefix: str = "") -> str:
    """Return `key` if it is acceptable and inside `prefix` (when the token has one)."""
    problem = key_problem(key)
    if problem:
        raise bad_request(f'"{field}" {problem}')
    if prefix and not key.startswith(prefix):
        raise ApiError(
            ErrorType.ACCESS_DENIED,
            f'"{field}" must start with "{prefix}": your token may only upload under that prefix',
        )
    return key


def check_prefix(prefix: str) -> str:
    """Validate a token's key prefix (empty means the whole bucket); raises ValueError."""
    if prefix:
        problem = key_problem(prefix.rstrip("/") or "/")
        if problem:
            raise ValueError(f"the key prefix {problem}")
    return prefix


def content_type_for(key: str, requested: str | None = None) -> str:
    """The requested Content-Type if given, else one guessed from the key's extension."""
    if requested is not None:
        if len(requested) > 255 or not _CONTENT_TYPE.match(requested):
            raise bad_request(f'"contentType" is not a media type such as "image/jpeg": {requested!r}')
        return requested
    name = key.rsplit("/", 1)[-1]
    if "." not in name:
        return DEFAULT_CONTENT_TYPE
    suffix = "." + name.rsplit(".", 1)[1].lower()
    return (
        _TYPES.types_map[True].get(suffix)
        or _EXTRA_TYPES.get(suffix)
        or _TYPES.types_map[False].get(suffix)
        or DEFAULT_CONTENT_TYPE
    )
