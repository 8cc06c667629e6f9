"""Where s3up keeps its files: the journal (data), the settings (config) and the logs.

Each function returns an existing directory (created on first use). The per-user locations come from
platformdirs (app name ``s3up``, no author folder); setting the ``S3UP_HOME`` environment variable puts
all three under that one folder instead (``data/``, ``config/``, ``logs/``), for tests and portable use.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "s3up"
HOME_ENV = "S3UP_HOME"


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """The folder for the resume journal; created if missing."""
    home = _home()
    return _ensure(home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)))


def config_dir() -> Path:
    """The folder for ``settings.json``; created if missing."""
    home = _home()
    return _ensure(home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)))


def log_dir() -> Path:
    """The folder for the rotating log file; created if missing."""
    home = _home()
    return _ensure(home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)))
