from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core import settings as settings_module
from app.core.models import MIB, TransferSettings
from app.core.paths import config_dir, data_dir, log_dir
from app.core.settings import (
    DEFAULT_METADATA,
    AppSettings,
    SettingsError,
    load_settings,
    save_settings,
    to_transfer_settings,
    validate_settings,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("S3UP_HOME", str(tmp_path / "s3up-home"))
    return tmp_path / "s3up-home"


def test_paths_live_under_s3up_home_and_are_created(home: Path) -> None:
    assert (data_dir(), config_dir(), log_dir()) == (home / "data", home / "config", home / "logs")
    assert all(folder.is_dir() for folder in (data_dir(), config_dir(), log_dir()))


def test_paths_without_override_use_the_platform_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("S3UP_HOME", raising=False)
    # conftest points the XDG folders into a temporary home, so these are safe to create.
    assert config_dir().name == "s3up"
    assert Path(os.environ["XDG_CONFIG_HOME"]) in config_dir().parents
    assert data_dir().is_dir()
    assert log_dir().is_dir()


def test_defaults() -> None:
    settings = AppSettings()
    assert (settings.max_connections, settings.per_file_connections, settings.part_size_mib) == (0, 0, 0)
    transfer = to_transfer_settings(settings)
    assert transfer.max_connections is None, "connections are adapted unless the user fixes them"
    assert transfer.per_file_connections is None
    assert json.loads(settings.last_metadata) == {"organizationId": "", "objectRecordId": ""}
    assert "\n" in DEFAULT_METADATA  # pretty, for the editor
    assert settings.key_template == "{filename}"
    assert validate_settings(settings) == []


def test_round_trip_in_the_config_dir(home: Path) -> None:
    changed = AppSettings(api_url="https://api.example.com/prod", max_connections=16, part_size_mib=64,
                          bandwidth_limit_mib=2.5, accelerate=True, key_template="up/{date}/{filename}",
                          last_metadata='{"organizationId": "o"}', notify_when_done=False)  # fmt: skip
    save_settings(changed)
    assert (home / "config" / "settings.json").exists()
    assert load_settings() == changed
    assert [p.name for p in (home / "config").iterdir()] == ["settings.json"]  # no temp file left


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "none.json") == AppSettings()


def test_unknown_keys_ignored_and_wrong_values_fall_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({
        "max_connections": "many", "per_file_connections": 2, "part_size_mib": 3, "bandwidth_limit_mib": 4,
        "accelerate": 1, "overwrite": True, "key_template": "{oops", "api_url": "ftp://x", "future_key": [1],
        "connections_format": 2,
    }), encoding="utf-8")  # fmt: skip
    with caplog.at_level(logging.WARNING):
        loaded = load_settings(path)
    expected = dataclasses.replace(AppSettings(), per_file_connections=2, bandwidth_limit_mib=4.0)
    assert loaded == expected
    assert isinstance(loaded.bandwidth_limit_mib, float)
    logged = caplog.text
    for name in ("max_connections", "part_size_mib", "accelerate", "key_template", "api_url"):
        assert name in logged


def test_connections_an_older_version_saved_are_automatic(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Older Settings dialogs could not say "automatic": one saved 1 and 1 whenever the user saved."""
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"max_connections": 1, "per_file_connections": 1, "part_size_mib": 64}))
    with caplog.at_level(logging.WARNING):
        loaded = load_settings(path)
    assert (loaded.max_connections, loaded.per_file_connections, loaded.part_size_mib) == (0, 0, 64)
    assert "older version" in caplog.text
    save_settings(dataclasses.replace(loaded, max_connections=1, per_file_connections=1), path)
    assert json.loads(path.read_text())["connections_format"] == 2
    again = load_settings(path)
    assert (again.max_connections, again.per_file_connections) == (1, 1), "a number chosen now is kept"


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe garbage"])
def test_corrupt_file_is_kept_aside(tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert load_settings(path) == AppSettings()
    assert (tmp_path / "settings.json.bad").read_bytes() == content
    assert not path.exists()
    assert "settings.json.bad" in caplog.text


def test_validation_messages() -> None:
    bad = AppSettings(max_connections=-1, per_file_connections=65, part_size_mib=4, bandwidth_limit_mib=-1.0,
                      cdn_base_url="cdn.example.com", key_template="{x")  # fmt: skip
    problems = validate_settings(bad)
    assert problems[:4] == [
        'The CDN base URL must start with https:// (or http://), like "https://d111111abcdef8.cloudfront.net".',
        "Connections must be automatic (0) or between 1 and 64 (it is -1).",
        "Connections per file must be 0 (no cap) or between 1 and 64 (it is 65).",
        "The part size must be automatic (0) or between 5 and 5120 MiB (it is 4 MiB).",
    ]
    assert "bandwidth limit" in problems[4]
    assert "key template" in problems[5]
    assert (
        validate_settings(AppSettings(part_size_mib=5))
        == validate_settings(AppSettings(part_size_mib=5120))
        == []
    )
    assert validate_settings(AppSettings(bandwidth_limit_mib=float("nan")))
    assert validate_settings(AppSettings(max_connections=True)) == [
        "The setting max_connections has the wrong type (bool)."
    ]


def test_save_refuses_invalid_settings(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        save_settings(AppSettings(max_connections=100), tmp_path / "s.json")
    assert "between 1 and 64" in caught.value.message
    assert not (tmp_path / "s.json").exists()


def test_save_failure_is_a_sentence_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.json"
    save_settings(AppSettings(max_connections=3), path)

    def broken_replace(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(settings_module.os, "replace", broken_replace)
    with pytest.raises(SettingsError, match="No space left on device"):
        save_settings(AppSettings(max_connections=5), path)
    assert load_settings(path).max_connections == 3
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_to_transfer_settings() -> None:
    assert to_transfer_settings(AppSettings()) == TransferSettings(
        max_connections=None,
        per_file_connections=None,
        part_size=None,
        bandwidth_limit=None,
        accelerate=False,
    )
    custom = to_transfer_settings(AppSettings(max_connections=2, per_file_connections=6, part_size_mib=16,
                                              bandwidth_limit_mib=1.5, accelerate=True))  # fmt: skip
    assert custom.part_size == 16 * MIB
    assert custom.bandwidth_limit == 1.5 * MIB
    assert (custom.max_connections, custom.per_file_connections, custom.accelerate) == (2, 2, True)
    with pytest.raises(SettingsError):
        to_transfer_settings(AppSettings(part_size_mib=6000))


def test_my_modules_do_not_import_qt() -> None:
    modules = ["paths", "journal", "fingerprint", "credentials", "metadata", "keys", "settings", "logs"]
    code = (
        "import sys\n"
        + "".join(f"import app.core.{name}\n" for name in modules)
        + "assert not [m for m in sys.modules if m.startswith('PySide6')], 'PySide6 was imported'\n"
        + "assert 'keyring' not in sys.modules, 'keyring should load lazily'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
