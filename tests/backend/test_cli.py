"""`python -m backend tokens …` against a local stack, and `serve` stopping cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
import requests

from backend.cli import main, parse_duration
from backend.local import LocalStack
from tests.backend.served import Served

ROOT = Path(__file__).resolve().parents[2]


def tokens(stack: LocalStack, *args: str) -> list[str]:
    return ["tokens", *args, "--data-dir", str(stack.data_dir)]


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

    def session_status() -> int:
        url = f"{stack.api_url}/session"
        return requests.post(url, json={}, headers={"Authorization": token}, timeout=10).status_code

    assert session_status() == 200  # the gateway's cached Allow, as on AWS, until its TTL ...
    stack.flush_authorizer_cache()  # ... or until the stage's cache is flushed
    assert session_status() == 401
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


def test_a_missing_table_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        args = ["tokens", "list", "--endpoint-url", f"http://{host}:{port}", "--table", "NoSuchTable"]
        assert main(args) == 1
    finally:
        moto.stop()
    assert "does the table exist" in capsys.readouterr()[1]


def test_a_folder_that_is_no_data_folder_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "list", "--data-dir", str(tmp_path)]) == 2
    assert "not a local API's data folder" in capsys.readouterr()[1]


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600), ("90m", 5400), ("12h", 43200), ("30d", 2592000)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


SERVE_TOKEN = "cli-serve-token-of-at-least-32-characters"


def test_serve_prints_what_to_use_and_stops_cleanly_on_sigint_and_sigterm() -> None:
    quick = ("--port", "0", "--ephemeral")
    full, core = Served(*quick, "--token", SERVE_TOKEN), Served(*quick, "--core-only")
    try:
        api_url = full.printed("API URL")
        assert api_url.startswith("http://127.0.0.1:")
        assert api_url.endswith("/prod")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/cdn", full.printed("CDN base URL"))
        assert full.printed("Token") == SERVE_TOKEN
        session = requests.post(
            f"{api_url}/session", json={}, headers={"Authorization": SERVE_TOKEN}, timeout=10
        )
        assert session.json()["principal"] == "local-user"
        core_url, core_token = core.printed("API URL"), core.printed("Token")
        hidden = requests.post(
            f"{core_url}/session", json={}, headers={"Authorization": core_token}, timeout=10
        )
        assert hidden.status_code == 403  # --core-only: no /session, as on the existing deployment
        full.process.send_signal(signal.SIGINT)
        core.process.send_signal(signal.SIGTERM)
        assert full.process.wait(15) == 0
        assert core.process.wait(15) == 0
    finally:
        full.close()
        core.close()
