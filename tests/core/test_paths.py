"""s3up's own folders and files are its user's alone: folders 0700, files 0600 (issue 15, item 11)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import logs, paths
from app.core.journal import Journal
from app.core.models import UploadState
from app.core.ownership import UploadLocks
from app.core.paths import config_dir, data_dir, log_dir, private_dir, private_file, tighten_tree
from app.core.settings import AppSettings, load_settings, save_settings

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are a POSIX matter")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def loose(root: Path) -> list[str]:
    """Every folder or file under `root` (itself included) that group or others may use."""
    found = [root, *root.rglob("*")]
    return [f"{p} {mode(p):o}" for p in found if not p.is_symlink() and mode(p) & 0o077]


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual desktop umask, under which files are created 0644 unless s3up says otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None) -> Path:
    monkeypatch.setenv("S3UP_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(paths, "_tightened", set())
    return tmp_path / "home"


def test_private_dir_and_file_create_and_tighten(tmp_path: Path, umask_022: None) -> None:
    folder = private_dir(tmp_path / "a" / "b")
    assert (mode(tmp_path / "a"), mode(folder)) == (0o700, 0o700)
    file = private_file(folder / "f")
    assert mode(file) == 0o600
    file.write_text("kept")
    file.chmod(0o644)
    folder.chmod(0o755)
    private_file(file)
    private_dir(folder)
    assert (mode(folder), mode(file), file.read_text()) == (0o700, 0o600, "kept")
    file.chmod(0o400)  # stricter than 0600: left as it is
    private_file(file)
    assert mode(file) == 0o400


def test_the_journal_its_wal_and_shm_and_the_lock_files_are_private(home: Path) -> None:
    with Journal.open_default() as journal:
        upload = journal.create_upload(
            api_url="https://api.example/prod", path=Path("/x/y.bin"), size=1, mtime_ns=1, fingerprint="f",
            key="y.bin", metadata={}, content_type=None, part_size=0, state=UploadState.QUEUED,
        )  # fmt: skip
        locks = UploadLocks(journal.path.parent / "journal-locks")
        locks.acquire(upload.id)
        names = sorted(p.name for p in journal.path.parent.iterdir())
        assert {"journal.sqlite3", "journal.sqlite3-wal", "journal.sqlite3-shm", "journal-locks"} <= set(
            names
        )
        assert loose(home) == []
        locks.release_all()


def test_settings_and_logs_including_rotated_ones_are_private(home: Path) -> None:
    save_settings(AppSettings(api_url="https://api.example/prod"))
    assert load_settings().api_url == "https://api.example/prod"
    path = logs.setup_logging(max_bytes=500, backups=2)
    try:
        for number in range(40):
            logging.getLogger("s3up.test").warning("line %d %s", number, "x" * 40)
    finally:
        with logs._installed_lock:
            for handler in logs._installed:
                logging.getLogger().removeHandler(handler)
                handler.close()
            logs._installed.clear()
    assert sorted(p.name for p in path.parent.iterdir()) == ["s3up.log", "s3up.log.1", "s3up.log.2"]
    assert loose(home) == []


OLD_FILES = (
    "data/journal.sqlite3",
    "data/journal.sqlite3-wal",
    "data/journal-locks/upload-3.lock",
    "config/settings.json",
    "config/window.ini",
    "logs/s3up.log",
    "logs/s3up.log.4",
)


def test_folders_and_files_left_loose_by_older_versions_are_tightened_at_start(home: Path) -> None:
    for name in ("data", "data/journal-locks", "config", "logs"):
        (home / name).mkdir(parents=True, mode=0o755)
        (home / name).chmod(0o755)
    for name in OLD_FILES:
        (home / name).write_text("")
        (home / name).chmod(0o644)
    os.symlink("/etc/hostname", home / "data" / "a-link")  # links are not followed to other files
    data_dir(), config_dir(), log_dir()
    assert loose(home / "data") + loose(home / "config") + loose(home / "logs") == []
    assert mode(Path("/etc/hostname")) & 0o044


def test_the_platform_folders_are_private_up_to_the_app_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    monkeypatch.delenv("S3UP_HOME", raising=False)
    monkeypatch.setattr(paths, "_tightened", set())
    for variable in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    (tmp_path / "xdg_state_home" / "s3up").mkdir(parents=True)
    (tmp_path / "xdg_state_home" / "s3up").chmod(0o755)  # made by an older version
    folders = [data_dir(), config_dir(), log_dir()]
    assert [p.relative_to(tmp_path).as_posix() for p in folders] == [
        "xdg_data_home/s3up", "xdg_config_home/s3up", "xdg_state_home/s3up/log",
    ]  # fmt: skip
    for folder in folders:
        assert mode(folder) == 0o700
    assert mode(tmp_path / "xdg_state_home" / "s3up") == 0o700
    assert mode(tmp_path / "xdg_data_home") == 0o700  # missing XDG folders are made 0700, as XDG says


def test_tighten_tree_leaves_the_owners_bits_and_reports_nothing_on_a_missing_root(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "script").write_text("")
    (tmp_path / "r" / "script").chmod(0o755)
    tighten_tree(tmp_path / "r")
    assert mode(tmp_path / "r" / "script") == 0o700
    tighten_tree(tmp_path / "missing")  # logged, not raised
