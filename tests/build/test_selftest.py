"""`--self-test` from the source tree: the one-line report, and a failure when resources are missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import selftest
from tests.build.conftest import ROOT


def test_self_test_passes_from_source_and_prints_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "--self-test"],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("s3up ")
    assert " self-test OK: window shown " in line
    assert "(offscreen)" in line
    assert ", keyring: " in line


def test_missing_resources_fail_the_self_test_with_the_reason(
    qapp: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("S3UP_HOME", str(tmp_path))  # restored afterwards, as the self-test changes it
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr("app.gui.resources.resource_dir", lambda: tmp_path / "no-resources")
    assert selftest.run_self_test() == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("s3up self-test FAILED: ")
    assert f"no icons in {tmp_path / 'no-resources'}" in line


def test_the_report_line_names_time_platform_icons_and_keyring() -> None:
    report = selftest.Report(
        version="1.2.3", platform="xcb", shown_after_s=0.4567, icons=20, keyring="KWallet"
    )
    assert report.line() == (
        "s3up 1.2.3 self-test OK: window shown 0.46 s after start (xcb), 20 icons, keyring: KWallet"
    )
    report.problems += ["cannot import secretstorage: boom", "the main window has no icon"]
    assert report.line() == (
        "s3up self-test FAILED: cannot import secretstorage: boom; the main window has no icon"
    )


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from /proc")
def test_the_start_time_is_this_process_age() -> None:
    age = selftest.seconds_since_start()
    assert age is not None
    assert 0 < age < 3600
