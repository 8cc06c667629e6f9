"""`s3up resume`: exit statuses that tell the truth, and the choices for an upload refused for its key."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from app.core.models import MIB
from backend.local import LocalStack
from tests.cli.support import (
    SLOW_PARTS,
    make_file,
    one_sentence,
    run_cli,
    start_cli,
    upload_stopped_by_ctrl_c,
    wait_for_parts,
)
from tests.core.conftest import fetch

WAIT = 60


def paused_upload(stack: LocalStack, home: Path, path: Path, key: str) -> None:
    """An upload with a part sent, then paused by Ctrl-C."""
    upload_stopped_by_ctrl_c(home, path, "--api", stack.api_url, "--token", stack.token, "--key", key)


def test_resume_all_leaves_an_upload_another_process_sends_and_exits_0(
    stack: LocalStack, home: Path, tmp_path: Path
) -> None:
    path = make_file(tmp_path, "elsewhere.bin", 40 * MIB)  # 10 s at 4 MiB/s: still sending when checked
    sender = start_cli(
        home, "upload", str(path), "--api", stack.api_url, "--token", stack.token,
        "--key", "cli/elsewhere.bin", *SLOW_PARTS,
    )  # fmt: skip
    try:
        wait_for_parts(home, 1)
        resumed = run_cli(home, "resume", "--all", "--token", stack.token)
        assert resumed.returncode == 0, resumed.stderr
        assert f"being sent by another s3up process (process {sender.pid})" in resumed.stderr
        assert one_sentence(resumed.stderr)
        assert sender.poll() is None
    finally:
        sender.send_signal(signal.SIGINT)
        sender.communicate(timeout=WAIT)


def test_two_resume_all_at_once_both_exit_0_and_the_file_is_sent_once(
    stack: LocalStack, home: Path, tmp_path: Path
) -> None:
    path = make_file(tmp_path, "twice.bin", 24 * MIB)
    paused_upload(stack, home, path, "cli/two-resumers.bin")
    first = start_cli(home, "resume", "--all", "--json", "--token", stack.token, "--bandwidth-limit", "8")
    second = start_cli(home, "resume", "--all", "--json", "--token", stack.token, "--bandwidth-limit", "8")
    outputs = [process.communicate(timeout=WAIT) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    records = [json.loads(line) for out, _ in outputs for line in out.splitlines()]
    assert [record["status"] for record in records] == ["done"]  # one of them sent it, the other left it
    assert fetch(records[0]["url"]) == path.read_bytes()
    assert "Done" in run_cli(home, "list").stdout


def test_an_upload_without_a_token_is_said_and_counts_as_unfinished(
    stack: LocalStack, home: Path, tmp_path: Path
) -> None:
    path = make_file(tmp_path, "tokenless.bin", 24 * MIB)
    paused_upload(stack, home, path, "cli/tokenless.bin")
    resumed = run_cli(home, "resume", "--all")
    assert resumed.returncode == 1
    assert f"No token for {stack.api_url}: run `s3up login --api {stack.api_url}`" in resumed.stderr
    assert "Paused" in run_cli(home, "list").stdout


def test_conflict_choices_are_checked_before_anything(home: Path) -> None:
    both = run_cli(home, "resume", "--all", "--overwrite")
    assert both.returncode == 2
    assert "--overwrite and --key apply to one upload: give its number instead of --all." in both.stderr
    bad_key = run_cli(home, "resume", "3", "--key", "a//b")
    assert bad_key.returncode == 2
    assert "--key a//b: " in bad_key.stderr
    assert one_sentence(bad_key.stderr)
