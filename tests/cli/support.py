"""Running `s3up` as a real subprocess, with its own S3UP_HOME."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.core.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
METADATA = '{"organizationId": "org-7", "objectRecordId": "rec-42"}'


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"S3UP_HOME": str(home), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    env.pop("S3UP_TOKEN", None)
    env.update(extra)
    return env


def run_cli(
    home: Path, *args: str, stdin: str = "", timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(home, **env),
        cwd=ROOT,
    )


def start_cli(home: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """`s3up` in the background, its output in pipes (text)."""
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env=cli_env(home, **env),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_row(listing: str) -> str:
    """The first upload in `s3up list`'s output, under its header."""
    header, first, *_ = listing.splitlines()
    assert header.split()[:3] == ["ID", "STATE", "DONE"]
    return first


def make_file(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def one_sentence(stderr: str) -> bool:
    """No traceback, a few lines at most."""
    return "Traceback" not in stderr and stderr.count("\n") <= 3


def wait_for_parts(home: Path, count: int, timeout: float = 60, *, path: Path | None = None) -> None:
    """Until the first unfinished upload in `home`'s journal (of the file at `path`, when given) has
    `count` parts sent."""
    journal_path = home / "data" / "journal.sqlite3"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal_path.exists():
            with Journal(journal_path) as journal:
                uploads = [u for u in journal.unfinished() if path is None or u.path == path]
                if uploads and len(journal.parts(uploads[0].id)) >= count:
                    return
        time.sleep(0.1)
    raise AssertionError("the upload never got going")


# One 5 MiB part at a time at 4 MiB/s: the parts land in order, and an upload of tens of MiB is still
# sending for seconds after its first part.
SLOW_PARTS = ("--part-size", "5", "--concurrency", "1", "--bandwidth-limit", "4")


def upload_stopped_by_ctrl_c(home: Path, path: Path, *args: str) -> tuple[str, str]:
    """`s3up upload PATH ARGS` sending `SLOW_PARTS`, stopped by Ctrl-C once its first part is on S3;
    asserts exit status 130 and returns its (stdout, stderr)."""
    process = start_cli(home, "upload", str(path), *args, *SLOW_PARTS)
    try:
        wait_for_parts(home, 1, path=path)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    return out, err
