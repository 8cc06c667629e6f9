"""`python -m backend tokens …` against a local stack, and `serve` stopping cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from backend.cli import main, parse_duration
from backend.local import LocalStack

ROOT = Path(__file__).resolve().parents[2]


def tokens(stack: LocalStack, *args: str) -> list[str]:
    return ["tokens", *args, "--endpoint-url", stack.dynamodb_endpoint, "--table", stack.tokens_table]


def test_create_list_revoke(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            tokens(
                stack,
                "create",
                "--principal",
                "carol",
                "--org",
                "org-9",
                "--prefix",
                "carol/",
                "--expires-in",
                "1h",
            )
        )
        == 0
    )
    out, err = capsys.readouterr()
    token = out.strip()
    assert re.fullmatch(r"s3up_[A-Za-z0-9_-]{43}", token)
    assert "carol/" in err
    assert "shown only this once" in err
    session = requests.post(f"{stack.api_url}/session", json={}, headers={"Authorization": token}, timeout=10)
    assert session.json()["principal"] == "carol"

    assert main(tokens(stack, "list")) == 0
    listing, _ = capsys.readouterr()
    assert token not in listing
    row = next(line for line in listing.splitlines() if "carol" in line)
    assert row.endswith("active")
    token_id = row.split()[0]

    assert main(tokens(stack, "revoke", token_id)) == 0
    assert (
        requests.post(
            f"{stack.api_url}/session", json={}, headers={"Authorization": token}, timeout=10
        ).status_code
        == 401
    )
    main(tokens(stack, "list"))
    assert next(line for line in capsys.readouterr()[0].splitlines() if "carol" in line).endswith("revoked")


def test_register_and_revoke_a_chosen_token(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(tokens(stack, "create", "--principal", "dora", "--token", "dora-chosen-token")) == 0
    assert capsys.readouterr()[0].strip() == "dora-chosen-token"
    assert main(tokens(stack, "create", "--principal", "eve", "--token", "dora-chosen-token")) == 2
    assert "already registered" in capsys.readouterr()[1]
    assert main(tokens(stack, "revoke", "--token", "dora-chosen-token")) == 0
    assert main(tokens(stack, "revoke", "abc")) == 2
    assert "at least 8" in capsys.readouterr()[1]


def test_a_missing_table_is_reported(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["tokens", "list", "--endpoint-url", stack.dynamodb_endpoint, "--table", "NoSuchTable"]
    assert main(args) == 1
    assert "does the table exist" in capsys.readouterr()[1]


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600), ("90m", 5400), ("12h", 43200), ("30d", 2592000)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_what_to_use_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # serve needs no credentials
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backend",
            "serve",
            "--port",
            "0",
            "--token",
            "cli-serve-token",
            "--core-only",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                ready.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert ready.wait(30), "".join(lines) + process.stderr.read()  # type: ignore[union-attr]
        printed = "".join(lines)
        api_url = re.search(r"API URL: +(\S+)", printed).group(1)  # type: ignore[union-attr]
        assert re.search(r"CDN base URL: +http://127\.0\.0\.1:\d+/cdn", printed)
        assert "Token:        cli-serve-token" in printed
        assert api_url.startswith("http://127.0.0.1:")
        answer = requests.post(
            f"{api_url}/session", json={}, headers={"Authorization": "cli-serve-token"}, timeout=10
        )
        assert answer.status_code == 403  # --core-only: no /session, as on the existing deployment
        process.send_signal(stop_signal)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        reader.join(5)
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
