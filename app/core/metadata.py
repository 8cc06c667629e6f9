"""The metadata a user types: the JSON object sent as ``pluginPayload`` with every file of a batch.

`validate_metadata` lists every problem (for live validation in an editor), `parse_metadata` returns the
object or raises the first problem, `load_metadata_argument` reads the CLI's ``--metadata JSON|@file``,
and `build_payload` wraps the object (plus the file's key) as the API's ``/initialize`` expects it.
Every `MetadataError` reads as a sentence for the user; syntax errors carry a 1-based line and column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.core.errors import UploadError

REQUIRED_FIELDS: tuple[str, ...] = ("organizationId", "objectRecordId")
KEY_FIELD = "imageKey"
PLUGIN = "upload-s3"
# The backend bounds the whole request (compact UTF-8 JSON) at 64 KiB by default; the metadata may use
# all but 4 KiB of it, which is left for the wrapper, the key (at most 1 KiB) and the content type.
MAX_METADATA_BYTES = 60 * 1024

_EXAMPLE = '{"organizationId": "org-1", "objectRecordId": "rec-1"}'
_VALUE_WORDS = "a value (text in double quotes, a number, true, false, null, an object or a list)"


class MetadataError(UploadError, ValueError):
    """A problem with the metadata. `message` is the whole sentence (with "Line L, column C: " for
    syntax errors); `line` and `column` are 1-based, or None when the problem has no position."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def _enclosing(doc: str, pos: int) -> tuple[str, int]:
    """The innermost container open at `pos` ('{', '[' or '') and how many are open, skipping strings."""
    stack: list[str] = []
    in_string = escaped = False
    for char in doc[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
    return (stack[-1] if stack else ""), len(stack)


def _where(error: json.JSONDecodeError) -> tuple[int, int]:
    """Where to point the user (1-based). A comma missing at the end of a line is reported there, after
    the value it should follow, rather than at the next line's start, where the parser noticed it."""
    before = error.doc[: error.pos].rstrip()
    if error.msg == "Expecting ',' delimiter" and "\n" in error.doc[len(before) : error.pos]:
        line = before.count("\n") + 1
        return line, len(before) - (before.rfind("\n") + 1) + 1
    return error.lineno, error.colno


def _plain_words(error: json.JSONDecodeError) -> str:
    """What went wrong, in words a person who is not a parser can act on."""
    doc, pos, msg = error.doc, error.pos, error.msg
    container, depth = _enclosing(doc, pos)
    closer = {"{": "}", "[": "]"}.get(container, "}")
    rest = doc[pos:]
    if not rest.strip():
        if depth:
            return f"the text ends too early; is a value or a closing '{closer}' missing?"
        return f"the text ends where {_VALUE_WORDS} was expected"
    if msg == "Expecting ',' delimiter":
        if "\n" in doc[len(doc[:pos].rstrip()) : pos]:
            return "a ',' is missing at the end of this line"
        return f"expected ',' or '{closer}'"
    if msg == "Expecting ':' delimiter":
        return "expected ':' after the field name"
    if msg.startswith("Illegal trailing comma") or (rest[0] in "}]" and doc[:pos].rstrip().endswith(",")):
        return f"remove the comma before '{rest[0]}' (JSON allows no trailing comma)"
    if rest[0] == "'":
        return 'use double quotes ("), not single quotes'
    if msg == "Expecting property name enclosed in double quotes":
        return "expected a field name in double quotes"
    if msg == "Expecting value":
        for python, json_word in (("True", "true"), ("False", "false"), ("None", "null")):
            if rest.startswith(python):
                return f"write {json_word} instead of {python}"
        return f"expected {_VALUE_WORDS}"
    if msg == "Extra data":
        return "unexpected text after the end of the JSON object"
    if msg.startswith("Unterminated string"):
        return 'this text is not closed with a double quote (")'
    if msg.startswith("Invalid control character"):
        return "a line break or tab inside a text must be written as \\n or \\t"
    if msg.startswith("Invalid \\uXXXX"):
        return "\\u must be followed by four hexadecimal digits"
    if msg.startswith("Invalid \\escape"):
        return "invalid escape after a backslash (write \\\\ for a backslash)"
    return msg[:1].lower() + msg[1:]


def _reject_constant(name: str) -> Any:
    raise MetadataError(f"{name} is not valid JSON; use a number or null instead.")


def _decode(text: str) -> tuple[Any, list[str]]:
    """Parse `text`, returning the value and the names of duplicated fields. Raises MetadataError."""
    if not text.strip():
        raise MetadataError(f"The metadata is empty; enter a JSON object such as {_EXAMPLE}.")
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, value in items:
            if name in result and name not in duplicates:
                duplicates.append(name)
            result[name] = value
        return result

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        line, column = _where(error)
        raise MetadataError(f"Line {line}, column {column}: {_plain_words(error)}", line, column) from None
    return value, duplicates


def _describe_type(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if value is None:
        return "null"
    return "a text" if isinstance(value, str) else "a number"


def validate_metadata(text: str, required: Sequence[str] = REQUIRED_FIELDS) -> list[MetadataError]:
    """Every problem with the metadata `text` (empty when it is valid), in the order a user would fix them.

    A syntax error is reported alone (nothing else can be checked then).
    """
    try:
        value, duplicates = _decode(text)
    except MetadataError as error:
        return [error]
    if not isinstance(value, dict):
        kind = _describe_type(value)
        return [MetadataError(f"The metadata must be a JSON object such as {_EXAMPLE}, not {kind}.")]
    problems = [
        MetadataError(f'The field "{name}" appears more than once; keep only one.') for name in duplicates
    ]
    for name in required:
        if name not in value:
            problems.append(MetadataError(f'The field "{name}" is required.'))
            continue
        field = value[name]
        if isinstance(field, bool) or not isinstance(field, str | int | float):
            problems.append(
                MetadataError(f'The field "{name}" must be a text or a number, not {_describe_type(field)}.')
            )
        elif isinstance(field, str) and not field.strip():
            problems.append(MetadataError(f'The field "{name}" must not be empty.'))
    if KEY_FIELD in value:
        problems.append(
            MetadataError(
                f'Remove the field "{KEY_FIELD}": each file\'s key is set by the key template instead.'
            )
        )
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        problems.append(
            MetadataError(
                f"The metadata is too large ({size:,} bytes); it may have at most "
                f"{MAX_METADATA_BYTES:,} bytes. Remove or shorten some fields."
            )
        )
    return problems


def parse_metadata(text: str, required: Sequence[str] = REQUIRED_FIELDS) -> dict[str, Any]:
    """The metadata object in `text`; raises the first `MetadataError` of `validate_metadata` otherwise."""
    problems = validate_metadata(text, required)
    if problems:
        raise problems[0]
    value, _ = _decode(text)
    return value


def load_metadata_argument(value: str, required: Sequence[str] = REQUIRED_FIELDS) -> dict[str, Any]:
    """The CLI's ``--metadata`` value: JSON text, or ``@path`` to read it from a UTF-8 file.

    Raises `MetadataError` when the file cannot be read or its content is not valid metadata
    (the message then names the file).
    """
    if not value.startswith("@"):
        return parse_metadata(value, required)
    path = Path(value[1:]).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise MetadataError(f"Cannot read the metadata file {path}: {reason}.") from None
    try:
        return parse_metadata(text, required)
    except MetadataError as error:
        raise MetadataError(f"In {path}: {error.message}", error.line, error.column) from None


def build_payload(metadata: dict[str, Any], key: str) -> dict[str, Any]:
    """The ``/initialize`` body: ``{"plugin": "upload-s3", "pluginPayload": {**metadata, "imageKey": key}}``.

    `metadata` is not modified.
    """
    return {"plugin": PLUGIN, "pluginPayload": {**metadata, KEY_FIELD: key}}
