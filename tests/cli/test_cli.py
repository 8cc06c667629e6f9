"""The `s3up` command line, run as a real subprocess against the local stack."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.journal import Journal
from app.core.models import MIB
from backend.local import LocalStack
from tests.cli.support import METADATA, ROOT, cli_env, first_row, make_file, run_cli, wait_for_parts
from tests.core.conftest import fetch
from tests.fault_proxy import Fault, FaultProxy, Seen


def test_upload_files_and_a_folder_with_json_output(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    single = make_file(tmp_path, "single.bin", 7 * MIB)
    folder = tmp_path / "album"
    first = make_file(folder, "a.jpg", 1000)
    second = make_file(folder / "sub", "b.txt", 6 * MIB)
    result = run_cli(
        home,
        "upload",
        str(single),
        str(folder),
        "--api",
        stack.api_url,
        "--token",
        stack.token,
        "--metadata",
        METADATA,
        "--key-prefix",
        "cli",
        "--part-size",
        "5",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    records = {record["key"]: record for record in map(json.loads, result.stdout.splitlines())}
    assert set(records) == {"cli/single.bin", "cli/album/a.jpg", "cli/album/sub/b.txt"}
    for record, path in zip(
        (records["cli/single.bin"], records["cli/album/a.jpg"], records["cli/album/sub/b.txt"]),
        (single, first, second),
        strict=True,
    ):
        assert record["status"] == "done"
        assert record["linkVerified"] is True
        assert record["size"] == path.stat().st_size
        assert record["uploadId"]
        assert record["file"] == str(path)
        assert fetch(record["url"]) == path.read_bytes()
    listed = run_cli(home, "list", "--json")
    assert listed.returncode == 0
    assert {json.loads(line)["key"] for line in listed.stdout.splitlines()} >= set(records)


def test_token_from_environment_and_plain_output(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    path = make_file(tmp_path, "env.bin", 100)
    result = run_cli(
        home,
        "upload",
        str(path),
        "--api",
        stack.api_url,
        "--key",
        "cli/env-token.bin",
        S3UP_TOKEN=stack.token,
    )
    assert result.returncode == 0, result.stderr
    assert f"done      env.bin -> {stack.cdn_base_url}/cli/env-token.bin" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metadata", '{"organizationId": "org-7",}'], "The metadata is not valid: Line 1, column"),
        (["--metadata", "[1, 2]"], "must be a JSON object"),
        (["--metadata", "@/nonexistent/meta.json"], "Cannot read the metadata file"),
        (["--key", "../escape.bin"], '".." segment'),
        (["--part-size", "4"], "--part-size must be a whole number of MiB from 5 to 5120"),
    ],
)
def test_bad_input_is_refused_before_anything_is_uploaded(
    stack: LocalStack, home: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    path = make_file(tmp_path, "refused.bin", 100)
    before = stack.s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", [])
    result = run_cli(home, "upload", str(path), "--api", stack.api_url, "--token", stack.token, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") <= 3  # a sentence, not a traceback
    assert stack.s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", []) == before


def test_unreadable_paths_are_all_named(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    result = run_cli(
        home,
        "upload",
        str(tmp_path / "missing.bin"),
        str(tmp_path / "also-missing"),
        "--api",
        stack.api_url,
        "--token",
        stack.token,
    )
    assert result.returncode == 2
    assert "missing.bin: no such file or folder" in result.stderr
    assert "also-missing: no such file or folder" in result.stderr


def test_unknown_api_and_rejected_token(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    path = make_file(tmp_path, "x.bin", 10)
    unreachable = run_cli(home, "upload", str(path), "--api", "http://127.0.0.1:9/prod", "--token", "t")
    assert unreachable.returncode == 2
    assert "cannot be reached" in unreachable.stderr
    wrong_stage = run_cli(home, "upload", str(path), "--api", stack.api_url + "x", "--token", stack.token)
    assert wrong_stage.returncode == 2
    assert "Check the API URL" in wrong_stage.stderr
    rejected = run_cli(home, "upload", str(path), "--api", stack.api_url, "--token", "not-a-token")
    assert rejected.returncode == 2
    assert "rejected the token" in rejected.stderr
    no_token = run_cli(home, "upload", str(path), "--api", stack.api_url)
    assert no_token.returncode == 2
    assert "s3up login" in no_token.stderr


def test_sigkill_mid_upload_then_resume_resends_only_what_was_in_flight(home: Path, tmp_path: Path) -> None:
    path = make_file(tmp_path, "killed.bin", 40 * MIB)
    concurrency, part_size = 2, 5 * MIB

    def count_only(_seen: Seen) -> Fault:
        return Fault.PASS

    with FaultProxy(count_only) as proxy, LocalStack(presign_endpoint=proxy.url) as local:
        proxy.upstream = local.s3_endpoint
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "upload",
                str(path),
                "--api",
                local.api_url,
                "--token",
                local.token,
                "--metadata",
                METADATA,
                "--part-size",
                "5",
                "--concurrency",
                str(concurrency),
                "--bandwidth-limit",
                "8",
                "--json",
            ],
            env=cli_env(home),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        journal_path = home / "data" / "journal.sqlite3"
        deadline = time.monotonic() + 60
        try:
            while True:
                assert time.monotonic() < deadline, "the upload never got going"
                assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
                if journal_path.exists():
                    with Journal(journal_path) as journal:
                        uploads = journal.unfinished()
                        if uploads and len(journal.parts(uploads[0].id)) >= 3:
                            break
                time.sleep(0.1)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate()
        sent_before = proxy.bytes_received
        assert sent_before < path.stat().st_size

        resumed = run_cli(home, "resume", "--all", "--json", "--token", local.token)
        assert resumed.returncode == 0, resumed.stderr
        record = json.loads(resumed.stdout.splitlines()[-1])
        assert record["status"] == "done"
        assert fetch(record["url"]) == path.read_bytes()
        resent = proxy.bytes_received - path.stat().st_size
        print(f"sent before kill {sent_before / MIB:.1f} MiB, re-sent {resent / MIB:.1f} MiB")
        assert 0 <= resent <= concurrency * part_size


def test_ctrl_c_pauses_and_list_then_abort(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    path = make_file(tmp_path, "interrupted.bin", 30 * MIB)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "upload",
            str(path),
            "--api",
            stack.api_url,
            "--token",
            stack.token,
            "--part-size",
            "5",
            "--concurrency",
            "1",
            "--bandwidth-limit",
            "5",
        ],
        env=cli_env(home),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_parts(home, 1, path=path)  # sending, with its Ctrl-C handler in place
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "s3up resume --all" in err
    listed = run_cli(home, "list")
    assert "Paused" in listed.stdout
    assert "interrupted.bin" in listed.stdout
    upload_ref = first_row(listed.stdout).split()[0]
    aborted = run_cli(home, "abort", upload_ref, "--token", stack.token)
    assert aborted.returncode == 0, aborted.stderr
    assert f"Upload {upload_ref} cancelled; the server deleted the parts already sent." in aborted.stdout
    assert "interrupted.bin" not in run_cli(home, "list").stdout


def test_login_without_a_keyring_says_so(stack: LocalStack, home: Path) -> None:
    result = run_cli(
        home,
        "login",
        "--api",
        stack.api_url,
        stdin=stack.token + "\n",
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    assert result.returncode == 2
    assert "keyring" in result.stderr.lower()
    assert stack.token not in result.stderr + result.stdout


def test_login_stores_the_token_and_upload_uses_it(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    keyring_file = tmp_path / "keyring.json"
    env = {"PYTHON_KEYRING_BACKEND": "tests.file_keyring.FileKeyring", "S3UP_TEST_KEYRING": str(keyring_file)}
    bad = run_cli(home, "login", "--api", stack.api_url, stdin="wrong\n", **env)
    assert bad.returncode == 2
    assert "rejected the token" in bad.stderr
    good = run_cli(home, "login", "--api", stack.api_url, stdin=stack.token + "\n", **env)
    assert good.returncode == 0, good.stderr
    assert "local-user" in good.stdout
    assert "stored in" in good.stdout
    path = make_file(tmp_path, "with-login.bin", 10)
    upload = run_cli(home, "upload", str(path), "--key", "cli/with-login.bin", **env)  # API remembered
    assert upload.returncode == 0, upload.stderr
    out = run_cli(home, "logout", **env)
    assert out.returncode == 0
    assert "the stored token was deleted" in out.stdout
    assert json.loads(keyring_file.read_text()) == {}
    again = run_cli(home, "logout", **env)
    assert again.returncode == 0
    assert "No token was stored" in again.stdout, "a second logout deleted nothing"


def test_an_upload_running_in_another_process_is_left_alone(
    stack: LocalStack, home: Path, tmp_path: Path
) -> None:
    path = make_file(tmp_path, "busy.bin", 48 * MIB)  # 12 s at 4 MiB/s: still sending while checked
    upload = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "upload", str(path), "--api", stack.api_url, "--token", stack.token,
         "--part-size", "5", "--bandwidth-limit", "4"],
        env=cli_env(home), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "busy.bin" not in (listed := run_cli(home, "list")).stdout:
            assert time.monotonic() < deadline, listed.stderr
            time.sleep(0.2)
        upload_ref = first_row(listed.stdout).split()[0]
        (line,) = [line for line in listed.stdout.splitlines() if "busy.bin" in line]
        assert "Sent elsewhere" in line
        as_json = json.loads(run_cli(home, "list", "--json").stdout.splitlines()[0])
        assert as_json["sentElsewhere"] is True
        busy = f"being sent by another s3up process (process {upload.pid})"
        resumed = run_cli(home, "resume", upload_ref, "--token", stack.token)
        assert resumed.returncode == 1
        assert busy in resumed.stderr
        aborted = run_cli(home, "abort", upload_ref, "--token", stack.token)
        assert aborted.returncode == 2
        assert busy in aborted.stderr
        assert upload.poll() is None, "the first process was disturbed"
    finally:
        upload.send_signal(signal.SIGINT)
        upload.communicate(timeout=30)
    assert upload.returncode == 130
    resumed = run_cli(home, "resume", upload_ref, "--token", stack.token, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert fetch(json.loads(resumed.stdout.splitlines()[-1])["url"]) == path.read_bytes()
