"""What the batch routes share: the list of files a body holds, and one file's error entry."""

from __future__ import annotations

from typing import Any

from backend.apigw import ApiError, bad_request, describe
from backend.limits import BATCH_FILES


def batch_entries(body: dict[str, Any], name: str = "files") -> list[Any]:
    """The 1..BATCH_FILES entries of a batch body's list `name`."""
    if name not in body:
        raise bad_request(f'"{name}" is missing: send {{"{name}": [...]}} with 1 to {BATCH_FILES} files')
    entries = body[name]
    if not isinstance(entries, list) or not entries:
        raise bad_request(f'"{name}" must be a non-empty array of files, not {describe(entries)}')
    if len(entries) > BATCH_FILES:
        raise bad_request(f'"{name}" lists {len(entries)} files; send at most {BATCH_FILES} per call')
    return entries


def entry_object(entry: Any) -> dict[str, Any]:
    """A batch entry that must be a JSON object."""
    if not isinstance(entry, dict):
        raise bad_request(f"each file must be a JSON object, not {describe(entry)}")
    return entry


def error_entry(entry: Any, name: str, error: ApiError) -> dict[str, Any]:
    """`{name: <the entry's own value of name, if a string>, "error": {...}}`."""
    value = entry.get(name) if isinstance(entry, dict) else None
    return {name: value if isinstance(value, str) else None, "error": error.body()}
