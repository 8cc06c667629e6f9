"""Ctrl-C at any moment: exit 130, one sentence, no traceback, and everything started stays resumable."""

from __future__ import annotations

import json
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from app.core.journal import Journal
from app.core.models import MIB
from backend.local import LocalStack
from tests.cli.support import METADATA, make_file, run_cli, start_cli
from tests.core.conftest import fetch

WAIT = 60  # seconds: every wait below ends on an event long before this


@pytest.fixture
def silent_api() -> Iterator[tuple[str, threading.Event]]:
    """An address that accepts connections and never answers, and an event set once one is accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)
            accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/prod", accepted
    listener.close()
    for connection in held:
        connection.close()
    thread.join(5)


# A step's per-file route and the batch route the engine takes instead on an API that has it.
STEP_ROUTES = {
    "/initialize": ("/initialize", "/initializeBatch"),
    "/getPreSignedUrls": ("/getPreSignedUrls",),
    "/finalize": ("/finalize", "/finalizeBatch"),
}


@contextmanager
def hanging(stack: LocalStack, step: str, status: int) -> Iterator[threading.Event]:
    """Make the routes of `step` hang until the block ends, then answer `status` (as a call cut off
    would end); yields an event set once one of them is reached."""
    reached, release = threading.Event(), threading.Event()
    originals = {route: stack.routes[route] for route in STEP_ROUTES[step]}

    def hang(event: dict[str, Any], context: Any) -> dict[str, Any]:
        reached.set()
        release.wait(WAIT)
        return {"statusCode": status, "body": json.dumps({"message": "Endpoint request timed out"})}

    stack.routes.update(dict.fromkeys(originals, hang))
    try:
        yield reached
    finally:
        release.set()
        stack.routes.update(originals)


def assert_interrupted(process: Any, outcome: str) -> None:
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip() == f"s3up: Stopped by Ctrl-C; {outcome}.", err
    assert out == ""


def test_ctrl_c_during_the_first_api_call(
    home: Path, tmp_path: Path, silent_api: tuple[str, threading.Event]
) -> None:
    api_url, accepted = silent_api
    path = make_file(tmp_path, "probe.bin", 10)
    process = start_cli(
        home, "upload", str(path), "--api", api_url, "--token", "a-token-123", "--metadata", METADATA
    )
    try:
        assert accepted.wait(WAIT), "the CLI never called the API"
        process.send_signal(signal.SIGINT)
        assert_interrupted(process, "nothing was started")
    finally:
        process.kill()
    with Journal(home / "data" / "journal.sqlite3") as journal:
        assert journal.unfinished() == []


@pytest.fixture(scope="module")
def existing_deployment() -> Iterator[LocalStack]:
    """The existing deployment's routes only: a file's part URLs come from `/getPreSignedUrls` there (on
    this project's API the start signs the first 16 with it)."""
    with LocalStack(port=0, core_only=True) as local:
        yield local


@pytest.mark.parametrize("route", ["/initialize", "/getPreSignedUrls", "/finalize"])
def test_ctrl_c_while_an_api_call_of_the_upload_hangs_then_resume_finishes_it(
    stack: LocalStack, existing_deployment: LocalStack, home: Path, tmp_path: Path, route: str
) -> None:
    if route == "/getPreSignedUrls":
        stack = existing_deployment
    path = make_file(tmp_path, f"hang-{route.strip('/')}.bin", 6 * MIB)
    with hanging(stack, route, 504) as reached:
        process = start_cli(
            home, "upload", str(path), "--api", stack.api_url, "--token", stack.token,
            "--metadata", METADATA, "--part-size", "5", "--key", f"cli/interrupt{route}.bin",
            "--cdn-base-url", stack.cdn_base_url,
        )  # fmt: skip
        try:
            assert reached.wait(WAIT), f"the CLI never called {route}"
            process.send_signal(signal.SIGINT)
            assert_interrupted(process, "what was started is paused, and `s3up resume --all` continues it")
        finally:
            process.kill()
    with Journal(home / "data" / "journal.sqlite3") as journal:
        (unfinished,) = journal.unfinished()
        assert unfinished.path == path
    resumed = run_cli(home, "resume", "--all", "--json", "--token", stack.token)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads(resumed.stdout.splitlines()[-1])
    assert record["status"] == "done"
    assert fetch(record["url"]) == path.read_bytes()


def test_a_second_ctrl_c_while_pausing_changes_nothing(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    path = make_file(tmp_path, "twice.bin", 12 * MIB)
    with hanging(stack, "/finalize", 502) as reached:
        process = start_cli(
            home, "upload", str(path), "--api", stack.api_url, "--token", stack.token,
            "--part-size", "5", "--key", "cli/interrupt-twice.bin",
        )  # fmt: skip
        try:
            assert reached.wait(WAIT)
            process.send_signal(signal.SIGINT)
            process.send_signal(signal.SIGINT)  # impatient: the pause must still finish cleanly
            process.send_signal(signal.SIGINT)
            assert_interrupted(process, "what was started is paused, and `s3up resume --all` continues it")
        finally:
            process.kill()
    listed = run_cli(home, "list")
    assert "Paused" in listed.stdout
