"""The user's settings, saved as JSON in the config folder (``settings.json``).

Loading never fails: unknown keys are ignored, a value of the wrong type or out of range falls back to
that field's default, and an unreadable or corrupt file is kept beside it as ``settings.json.bad`` (so
nothing is lost) while the defaults are used; each of these is logged as a warning. Saving is atomic
(a temporary file, fsync, then `os.replace`), so a crash never leaves a half-written file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core import concurrency, planner
from app.core.errors import UploadError
from app.core.keys import DEFAULT_TEMPLATE, KeyTemplateError, check_template
from app.core.models import MIB, TransferSettings
from app.core.paths import config_dir

SETTINGS_FILENAME = "settings.json"
MAX_CONNECTIONS = concurrency.MAXIMUM
MIN_PART_SIZE_MIB = planner.MIN_PART_SIZE // MIB  # S3's smallest and largest part
MAX_PART_SIZE_MIB = planner.MAX_PART_SIZE // MIB

# Written beside the settings. A file without it comes from a version whose Settings dialog could not
# say "automatic" for connections: whatever numbers it holds were its defaults or forced on the user (a
# dialog saved 1 and 1 for automatic), so they are read as automatic.
CONNECTIONS_FORMAT_KEY, CONNECTIONS_FORMAT = "connections_format", 2
_CONNECTION_FIELDS = ("max_connections", "per_file_connections")

DEFAULT_METADATA = json.dumps({"organizationId": "", "objectRecordId": ""}, indent=2)

log = logging.getLogger(__name__)


class SettingsError(UploadError, ValueError):
    """Settings that cannot be used or saved; `message` lists what to change, one sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        self.message = " ".join(problems)
        super().__init__(self.message)


@dataclass
class AppSettings:
    """Everything the user can set. Sizes in MiB; 0 means automatic (connections, part size), no cap of
    its own (connections per file) or unlimited (bandwidth)."""

    api_url: str = ""
    cdn_base_url: str = ""
    max_connections: int = 0
    per_file_connections: int = 0
    part_size_mib: int = 0
    bandwidth_limit_mib: float = 0.0
    accelerate: bool = False
    key_template: str = DEFAULT_TEMPLATE
    last_metadata: str = DEFAULT_METADATA
    notify_when_done: bool = True


def setting_problem(name: str, value: Any) -> str | None:
    """Why `value` cannot be the setting `name`, as a sentence, or None when it can (for the dialogs too,
    which check a field before anything is saved)."""
    if name in ("max_connections", "per_file_connections") and not 0 <= value <= MAX_CONNECTIONS:
        if name == "max_connections":
            return f"Connections must be automatic (0) or between 1 and {MAX_CONNECTIONS} (it is {value})."
        return f"Connections per file must be 0 (no cap) or between 1 and {MAX_CONNECTIONS} (it is {value})."
    if name == "part_size_mib" and value != 0 and not MIN_PART_SIZE_MIB <= value <= MAX_PART_SIZE_MIB:
        return (
            f"The part size must be automatic (0) or between {MIN_PART_SIZE_MIB} and "
            f"{MAX_PART_SIZE_MIB} MiB (it is {value} MiB)."
        )
    if name == "bandwidth_limit_mib" and not (math.isfinite(value) and value >= 0):
        return f"The bandwidth limit must be 0 (unlimited) or a positive number of MiB/s (it is {value})."
    if name in ("api_url", "cdn_base_url") and value and not value.startswith(("https://", "http://")):
        label, like = (
            ("The API URL", "https://example.com/prod")
            if name == "api_url"
            else ("The CDN base URL", "https://d111111abcdef8.cloudfront.net")
        )
        return f'{label} must start with https:// (or http://), like "{like}".'
    if name == "key_template":
        try:
            check_template(value)
        except KeyTemplateError as error:
            return error.message
    return None


def _type_ok(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def validate_settings(settings: AppSettings) -> list[str]:
    """Every problem with `settings`, one sentence each; empty when they can be used."""
    problems = []
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if not _type_ok(field.default, value):
            problems.append(f"The setting {field.name} has the wrong type ({type(value).__name__}).")
        elif problem := setting_problem(field.name, value):
            problems.append(problem)
    return problems


def _path(path: Path | None) -> Path:
    return path if path is not None else config_dir() / SETTINGS_FILENAME


def _keep_bad_file(path: Path, reason: str) -> None:
    bad = path.with_name(path.name + ".bad")
    try:
        os.replace(path, bad)
    except OSError as error:
        log.warning("Settings file %s is unusable (%s) and could not be moved away: %s", path, reason, error)
        return
    log.warning("Settings file %s is unusable (%s); kept it as %s and used the defaults.", path, reason, bad)


def load_settings(path: Path | None = None) -> AppSettings:
    """The settings saved at `path` (default: the config folder's settings.json), or the defaults.

    Never raises for a missing, unreadable or corrupt file; see the module docstring.
    """
    path = _path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AppSettings()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        _keep_bad_file(path, str(error))
        return AppSettings()
    if not isinstance(data, dict):
        _keep_bad_file(path, "not a JSON object")
        return AppSettings()
    values: dict[str, Any] = {}
    for field in dataclasses.fields(AppSettings):
        if field.name not in data:
            continue
        value = data[field.name]
        if not _type_ok(field.default, value):
            log.warning("Setting %s has the wrong type (%r); using the default.", field.name, value)
        elif problem := setting_problem(field.name, value):
            log.warning("Setting %s is out of range: %s Using the default.", field.name, problem)
        else:
            values[field.name] = float(value) if isinstance(field.default, float) else value
    if data.get(CONNECTIONS_FORMAT_KEY) != CONNECTIONS_FORMAT:
        older = {name: values.pop(name) for name in _CONNECTION_FIELDS if values.get(name)}
        if older:
            log.warning("Connections saved by an older version (%s) are automatic now.", older)
    return AppSettings(**values)


def save_settings(settings: AppSettings, path: Path | None = None) -> None:
    """Write `settings` atomically. Raises `SettingsError` when they are invalid or cannot be written."""
    problems = validate_settings(settings)
    if problems:
        raise SettingsError(problems)
    path = _path(path)
    saved = {**dataclasses.asdict(settings), CONNECTIONS_FORMAT_KEY: CONNECTIONS_FORMAT}
    text = json.dumps(saved, indent=2, ensure_ascii=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as error:
        reason = error.strerror or str(error)
        raise SettingsError(
            [f"Could not save the settings to {path} ({reason}); check that you may write there."]
        ) from error


def to_transfer_settings(settings: AppSettings) -> TransferSettings:
    """The engine's view of `settings` (MiB → bytes, 0 → None). Raises `SettingsError` when invalid.

    Connections per file are capped at the total number of connections.
    """
    problems = validate_settings(settings)
    if problems:
        raise SettingsError(problems)
    total = settings.max_connections or None
    per_file = settings.per_file_connections or None
    if total is not None and per_file is not None:
        per_file = min(per_file, total)
    return TransferSettings(
        max_connections=total,
        per_file_connections=per_file,
        part_size=settings.part_size_mib * MIB if settings.part_size_mib else None,
        bandwidth_limit=settings.bandwidth_limit_mib * MIB if settings.bandwidth_limit_mib else None,
        accelerate=settings.accelerate,
    )
