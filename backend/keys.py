"""Object-key rules, token prefixes as folders, and the Content-Type an object gets.

`check_key` raises `ApiError` (400, or 403 outside the caller's prefix) with a message that says
what to change; a key it accepts is safe to use as an S3 key and as a CDN URL path, and shows
what it is: no invisible characters that reorder or hide text, no empty folder names.
A token's prefix is a folder: `team` and `team/` both allow `team/…` only, never `teammates/…`.
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


# Unicode categories that show nothing yet change how a name reads: format characters (bidirectional
# overrides and isolates, zero-width spaces and joiners, the byte-order mark, soft hyphens) and the
# line and paragraph separators.
_INVISIBLE_CATEGORIES = {
    "Cf": "an invisible formatting character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def _invisible(key: str) -> str | None:
    for ch in key:
        what = _INVISIBLE_CATEGORIES.get(unicodedata.category(ch))
        if what:
            name = unicodedata.name(ch, "")
            return f"{what} (U+{ord(ch):04X}{' ' + name if name else ''})"
    return None


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
    invisible = _invisible(key)
    if invisible:
        return f"contains {invisible}, which can disguise a name; remove it"
    if key.endswith("/"):
        return 'ends with "/"; it must name a file, not a folder'
    segments = key.split("/")
    if any(segment in (".", "..") for segment in segments):
        return 'contains a "." or ".." path segment'
    if "" in segments:
        return 'contains an empty folder name ("//"); use one "/" between folders'
    return None


def prefix_folder(prefix: str) -> str:
    """The folder a token's prefix allows, with one trailing "/" ("" for the whole bucket)."""
    folder = prefix.rstrip("/")
    return f"{folder}/" if folder else ""


def in_prefix(key: str, prefix: str) -> bool:
    """Whether `key` lies inside the folder `prefix` names (anything, for an empty prefix)."""
    return key.startswith(prefix_folder(prefix))


def check_key(key: str, *, field: str, prefix: str = "") -> str:
    """Return `key` if it is acceptable and inside the folder `prefix` (when the token has one)."""
    problem = key_problem(key)
    if problem:
        raise bad_request(f'"{field}" {problem}')
    if not in_prefix(key, prefix):
        folder = prefix_folder(prefix)
        raise ApiError(
            ErrorType.ACCESS_DENIED,
            f'"{field}" must be inside the folder "{folder}": your token may only upload there',
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
