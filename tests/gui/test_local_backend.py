"""The local test API of `python -m app --local` in a process of its own: it answers, keeps its data
across starts, stops when the app quits or dies, and says why when it cannot start."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from app import local_backend as local_backend_module
from app.local_backend import (
    LOG_FILENAME,
    STOPPED_FOR_GOOD,
    LocalBackend,
    LocalBackendError,
    local_backend,
    serve,
)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def local_api_children() -> list[int]:
    """This process's children that run the local test API (other tests may leave other children)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and f"PPid:\t{os.getpid()}\n" in (entry / "status").read_text()
                and b"app.local_backend" in (entry / "cmdline").read_bytes()
            ):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


def wait_gone(pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and b"zombie" not in _state(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.05)


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes()
    except OSError:
        return b"zombie"


def start_and_stop(home: Path, **options: float) -> None:
    with local_backend(home / "logs", **options):
        pass


def test_the_local_api_runs_in_a_process_of_its_own_and_stops_with_the_app(s3up_home: Path) -> None:
    with local_backend(s3up_home / "logs") as backend:
        api = backend.api
        [child] = local_api_children()
        answer = requests.post(
            f"{api.api_url}/initialize",
            json={"fileName": "a.bin", "fileSize": 1, "pluginPayload": {}},
            headers={"Authorization": f"Bearer {api.token}"},
            timeout=10,
        )
        assert answer.status_code == 400  # through the authorizer with the stack's token, to the handler
        assert "imageKey" in answer.json()["message"]
    wait_gone(child)
    assert local_api_children() == []
    assert (s3up_home / "data" / "local-api-app").is_dir()  # kept: uploads and links survive a restart

    with local_backend(s3up_home / "logs") as again:
        assert again.api.token == api.token  # the same stack, from its data folder
    assert api.token not in repr(api)


def kill_and_wait_for_the_next(backend: LocalBackend) -> None:
    first = backend.pid
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while backend.pid == first:
        assert time.monotonic() < deadline, "no new local API"
        time.sleep(0.05)


def test_a_local_api_that_dies_is_started_again_at_the_same_address(
    s3up_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = LocalBackend(s3up_home / "logs")
    try:
        kill_and_wait_for_the_next(backend)
        answer = requests.post(
            f"{backend.api.api_url}/initialize",
            json={"fileName": "a.bin", "fileSize": 1, "pluginPayload": {}},
            headers={"Authorization": f"Bearer {backend.api.token}"},
            timeout=10,
        )
        assert answer.status_code == 400  # the same address and token: the handler answers
    finally:
        backend.stop()
    assert local_api_children() == []
    assert "The local test API ended unexpectedly (exit code -9)" in caplog.messages


def test_stopping_while_a_new_local_api_starts_leaves_none_behind(
    s3up_home: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_backend_module, "STOP_GRACE", 1.0)
    backend = LocalBackend(s3up_home / "logs")
    os.kill(backend.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (starting := backend._starting) is None:  # the watcher started a new child: not answered yet
        assert time.monotonic() < deadline, "no new local API was started"
        time.sleep(0.005)
    os.kill(starting.pid, signal.SIGSTOP)  # and it hangs

    began = time.monotonic()
    backend.stop()

    assert time.monotonic() - began < 5  # not the 60 s a start may take
    assert local_api_children() == []
    assert not any("not started again" in message for message in caplog.messages)


def test_a_local_api_that_keeps_dying_stays_stopped_and_says_so(
    s3up_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_backend_module, "MAX_RESTARTS", 1)
    told: list[str] = []
    backend = LocalBackend(s3up_home / "logs")
    backend.when_stopped(told.append)
    try:
        kill_and_wait_for_the_next(backend)
        os.kill(backend.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while not told:
            assert time.monotonic() < deadline, "not told"
            time.sleep(0.05)
    finally:
        backend.stop()
    assert told == [STOPPED_FOR_GOOD]
    assert "Quit s3up and start it again with --local" in told[0]
    assert local_api_children() == []


def test_the_local_api_stops_when_the_app_dies(s3up_home: Path) -> None:
    script = textwrap.dedent(
        """
        import json, os, sys
        from pathlib import Path
        from app.local_backend import local_backend
        with local_backend(Path(sys.argv[1])) as backend:
            print(json.dumps({"api_url": backend.api.api_url, "pid": backend.pid}), flush=True)
            os._exit(0)  # as a crash would: no cleanup at all
        """
    )
    app = subprocess.run(  # stderr not captured: the orphan inherits it, and would hold this call
        [sys.executable, "-c", script, str(s3up_home / "logs")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        timeout=120,
        check=True,
    )
    answer = json.loads(app.stdout)
    try:
        deadline = time.monotonic() + 20
        while True:  # the orphaned stack sees its stdin close and stops
            try:
                requests.get(answer["api_url"], timeout=1)
            except requests.ConnectionError:
                break
            assert time.monotonic() < deadline, "the local API outlived the app"
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(answer["pid"], signal.SIGKILL)


def test_a_second_app_on_the_same_data_or_a_taken_port_is_said_in_a_sentence(s3up_home: Path) -> None:
    with local_backend(s3up_home / "logs") as first, pytest.raises(LocalBackendError) as raised:
        start_and_stop(s3up_home)
    assert not raised.value.missing_packages
    assert raised.value.message == (
        "Another s3up started with --local is already running (its local test API uses "
        f"{s3up_home / 'data' / 'local-api-app'}): quit it first."
    )
    address = first.api.api_url.split("//")[1].split("/")[0]
    host, port = address.split(":")
    # Another program took the port the stack used last time.
    with socket.create_server((host, int(port))), pytest.raises(LocalBackendError) as raised:
        start_and_stop(s3up_home)
    assert raised.value.message == (
        f"The local test API cannot listen on {address}: another program uses that port. Stop it, then "
        "start s3up --local again."
    )
    log = (s3up_home / "logs" / LOG_FILENAME).read_text()
    assert "cannot start" in log
    assert first.api.token not in log


def test_missing_packages_are_named_with_the_command_that_installs_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "backend.local", None)  # as without the `local` extra

    assert serve(tmp_path) == 2

    answer = json.loads(capsys.readouterr().out)
    assert "backend.local" in answer["missing"]
    assert not (tmp_path / LOG_FILENAME).exists()


def test_a_stack_that_does_not_answer_in_time_fails_the_start(
    monkeypatch: pytest.MonkeyPatch, s3up_home: Path
) -> None:
    monkeypatch.setattr(local_backend_module, "STOP_GRACE", 1.0)
    started = time.monotonic()
    with pytest.raises(LocalBackendError, match="did not start within 0 seconds"):
        start_and_stop(s3up_home, timeout=0.2)
    assert time.monotonic() - started < 5
    assert local_api_children() == []
