"""Object keys: templates such as ``uploads/{date}/{relpath}`` turned into keys, and the backend's key rules.

Placeholders: ``{filename}``, ``{stem}``, ``{ext}`` (without the dot), ``{relpath}`` (the path inside the
dropped folder, with ``/``; the file name when no folder was dropped), ``{date}`` (YYYY-MM-DD),
``{datetime}`` (YYYYMMDD-HHMMSS), ``{year}``, ``{month}``, ``{day}``, and any top-level metadata field
holding a text or a number (e.g. ``{organizationId}``). ``{{`` and ``}}`` stand for literal braces.
Every problem raises `KeyTemplateError`, whose message is a sentence for the user.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.errors import UploadError

DEFAULT_TEMPLATE = "{filename}"
MAX_KEY_BYTES = 1024
BUILTIN_PLACEHOLDERS: tuple[str, ...] = (
    "filename", "stem", "ext", "relpath", "date", "datetime", "year", "month", "day",
)  # fmt: skip


class KeyTemplateError(UploadError, ValueError):
    """A key template or a key that cannot be used; `message` says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _known_list(fields: Iterable[str]) -> str:
    names = ", ".join(f"{{{name}}}" for name in BUILTIN_PLACEHOLDERS)
    extra = [name for name in fields if name not in BUILTIN_PLACEHOLDERS]
    if extra:
        names += ", and the metadata fields " + ", ".join(f"{{{name}}}" for name in extra)
    return names


def check_template(template: str, fields: Iterable[str] | None = None) -> list[str]:
    """The placeholder names `template` uses, in order. Raises `KeyTemplateError` for bad braces, for a
    placeholder with a ':' or '!' part and, when `fields` (metadata field names) is given, for a name
    that is neither a built-in placeholder nor one of `fields`. With `fields=None` any name is accepted,
    since it may be a metadata field (use that to check a template before the metadata is known)."""
    try:
        pieces = list(string.Formatter().parse(template))
    except ValueError:
        raise KeyTemplateError(
            f'The key template "{template}" has a "{{" or "}}" without its pair. '
            'Placeholders look like {filename}; write "{{" or "}}" for a literal brace.'
        ) from None
    known = None if fields is None else {*BUILTIN_PLACEHOLDERS, *fields}
    names: list[str] = []
    for _literal, name, spec, conversion in pieces:
        if name is None:
            continue
        if spec or conversion or not name:
            written = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise KeyTemplateError(
                f'The key template "{template}" has an unusable placeholder "{{{written}}}": a placeholder '
                "is one name in braces, with nothing after it."
                f" Known placeholders: {_known_list(fields or ())}."
            )
        if known is not None and name not in known:
            raise KeyTemplateError(
                f'The key template uses "{{{name}}}", which is not a known placeholder or metadata field. '
                f"Known placeholders: {_known_list(fields or ())}."
            )
        names.append(name)
    return names


def _metadata_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise KeyTemplateError(
        f'The metadata field "{name}" cannot be used in a key template: it holds no text or number.'
    )


def _relpath(path: Path, root: Path | None) -> str:
    if root is None:
        return path.name
    for candidate, base in ((path, root), (path.resolve(), root.resolve())):
        try:
            return candidate.relative_to(base).as_posix()
        except ValueError:
            continue
    raise KeyTemplateError(f"{path} is not inside the folder {root}, so {{relpath}} cannot be used for it.")


def render_key(
    template: str,
    path: Path,
    *,
    root: Path | None = None,
    metadata: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> str:
    """The key for `path` from `template`, checked with `check_key` (a returned key is always valid).

    `root` is the folder the file was added with (for ``{relpath}``), `now` defaults to the local time.
    Built-in placeholders take precedence over metadata fields of the same name.
    """
    metadata = metadata or {}
    names = check_template(template, fields=metadata.keys())
    moment = now or datetime.now()
    builtins = {
        "filename": lambda: path.name,
        "stem": lambda: path.stem,
        "ext": lambda: path.suffix[1:],
        "relpath": lambda: _relpath(path, root),
        "date": lambda: moment.strftime("%Y-%m-%d"),
        "datetime": lambda: moment.strftime("%Y%m%d-%H%M%S"),
        "year": lambda: f"{moment.year:04d}",
        "month": lambda: f"{moment.month:02d}",
        "day": lambda: f"{moment.day:02d}",
    }
    values = {
        name: builtins[name]() if name in builtins else _metadata_text(name, metadata[name])
        for name in set(names)
    }
    key = "".join(
        literal + (values[name] if name is not None else "")
        for literal, name, _spec, _conversion in string.Formatter().parse(template)
    )
    check_key(key)
    return key


def check_key(key: str) -> None:
    """Raise `KeyTemplateError` unless `key` follows the backend's rules: not empty, at most 1,024 bytes
    of UTF-8, no control characters or backslashes, no leading "/", no empty, "." or ".." segments
    (the backend's rules, plus no empty segment, which makes a broken-looking CDN link)."""
    if not key:
        raise KeyTemplateError("The key is empty; give a key, or a key template such as {filename}.")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise KeyTemplateError(
            f'The key "{key!r}" contains characters that are not valid text (often from a file name in '
            "another encoding); rename the file or give a key."
        ) from None
    if size > MAX_KEY_BYTES:
        raise KeyTemplateError(
            f"The key is {size:,} bytes long; keys may have at most {MAX_KEY_BYTES:,} bytes (UTF-8). "
            "Use a shorter template or prefix."
        )
    if any(unicodedata.category(char) == "Cc" for char in key):
        raise KeyTemplateError(
            f"The key {key!r} contains a control character (such as a line break or tab); remove it."
        )
    if "\\" in key:
        raise KeyTemplateError(f'The key "{key}" contains a backslash (\\); use "/" to separate folders.')
    if key.startswith("/"):
        raise KeyTemplateError(f'The key "{key}" starts with "/"; remove the leading slash.')
    segments = key.split("/")
    if "." in segments or ".." in segments:
        raise KeyTemplateError(f'The key "{key}" has a "." or ".." segment, which is not allowed; remove it.')
    if segments[-1] == "":
        raise KeyTemplateError(f'The key "{key}" ends with "/"; it must end with a file name.')
    if "" in segments:
        raise KeyTemplateError(
            f'The key "{key}" has an empty folder name ("//"); remove the extra slash or fill the '
            "empty placeholder."
        )


def join_prefix(prefix: str, name: str) -> str:
    """``prefix/name`` with exactly one slash between them (just `name` when `prefix` is empty).

    Does not check the result; pass it to `check_key`.
    """
    if not prefix:
        return name
    return f"{prefix.rstrip('/')}/{name.lstrip('/')}"
