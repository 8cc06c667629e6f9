"""Where s3up keeps its files: the journal (data), the settings (config) and the logs — for its user only.

Each folder function returns an existing directory (created on first use). The per-user locations come
from platformdirs (app name ``s3up``, no author folder); setting the ``S3UP_HOME`` environment variable
puts all three under that one folder instead (``data/``, ``config/``, ``logs/``), for tests and portable use.

The journal holds file paths, keys, metadata and upload ids, so on POSIX systems every folder s3up
creates is ``0700`` and every file ``0600`` (`private_dir`, `private_file`). Folders and files left
with looser modes by older versions are tightened the first time a process asks for their folder.
On Windows the per-user folders are private already and modes are not used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import platformdirs

APP_NAME = "s3up"
HOME_ENV = "S3UP_HOME"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_GROUP_AND_OTHERS = 0o077

log = logging.getLogger(__name__)

_POSIX = os.name == "posix"
_tightened: set[Path] = set()  # app folders already tightened by this process
_tightened_lock = threading.Lock()


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents with mode 0700 (as XDG asks for its own folders), or take
    group and other permissions away from an existing `path`. Returns `path`. Raises OSError when it
    cannot be created."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            folder.mkdir(mode=PRIVATE_DIR_MODE)
    _tighten(path)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 if it is missing (its folder must exist), or take group and
    other permissions away from an existing file. Never truncates. Returns `path`.

    Call it before a library creates the file: SQLite gives its ``-wal`` and ``-shm`` files the mode of
    the database file, and a log handler opens its file with the process's umask otherwise."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    os.close(os.open(path, flags, PRIVATE_FILE_MODE))
    _tighten(path)
    return path


def tighten_tree(root: Path) -> None:
    """Take group and other permissions away from `root`, every folder under it and every file in them.
    Symbolic links are left alone. Failures are logged, never raised."""
    if not _POSIX:
        return
    _tighten(root)
    for folder, subfolders, files in os.walk(root, onerror=lambda error: log.warning("%s", error)):
        for name in subfolders:
            _tighten(Path(folder, name), follow=False)
        for name in files:
            _tighten(Path(folder, name), follow=False)


def _tighten(path: Path, *, follow: bool = True) -> None:
    """Take group and other permissions away from `path` (its owner's own bits stay)."""
    if not _POSIX:
        return
    try:
        info = os.stat(path, follow_symlinks=follow)
        if stat.S_ISLNK(info.st_mode):
            return
        mode = stat.S_IMODE(info.st_mode)
        if mode & _GROUP_AND_OTHERS:
            os.chmod(path, mode & ~_GROUP_AND_OTHERS)
    except OSError as error:
        log.warning("Cannot make %s private to its owner: %s", path, error)


def _ours(path: Path, app_folder: Path) -> Path:
    """`path` created private, with `app_folder` (the folder that holds it and nothing but s3up's files)
    tightened once per process."""
    private_dir(path)
    with _tightened_lock:
        if app_folder in _tightened:
            return path
        _tightened.add(app_folder)
    tighten_tree(app_folder)
    return path


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _app_dir(subfolder: str, platform_folder: Callable[..., str]) -> Path:
    """``$S3UP_HOME/<subfolder>``, else the platformdirs folder. The app folder tightened with it is the
    folder itself under S3UP_HOME, else the nearest folder named ``s3up`` that holds it (the log folder is
    ``~/.local/state/s3up/log`` on Linux): platformdirs makes that one for s3up alone."""
    home = _home()
    if home:
        return _ours(home / subfolder, home / subfolder)
    folder = Path(platform_folder(APP_NAME, appauthor=False))
    return _ours(folder, next((p for p in (folder, *folder.parents) if p.name == APP_NAME), folder))


def data_dir() -> Path:
    """The folder for the resume journal; created (private) if missing."""
    return _app_dir("data", platformdirs.user_data_dir)


def config_dir() -> Path:
    """The folder for ``settings.json``; created (private) if missing."""
    return _app_dir("config", platformdirs.user_config_dir)


def log_dir() -> Path:
    """The folder for the rotating log file; created (private) if missing."""
    return _app_dir("logs", platformdirs.user_log_dir)
