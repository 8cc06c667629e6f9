"""A folder of many files: added to the engine in chunks that start sending at once, and `--json` lines
streamed as files finish (tests/cli/measure_folder.py measures 10,000 files by hand)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.local import LocalStack
from tests.cli.support import ROOT, cli_env, make_file, start_cli

WAIT = 60

# Runs `s3up` with ADD_CHUNK = 100 and spies: the size of each add_many call, and whether the engine had
# started a batch of files (its first /initializeBatch) before the last chunk was added. Before each
# later chunk it waits (bounded) for that start, so it only fails when sending waits for the whole folder.
CHUNK_SPY = """
import json, sys, threading
from app.cli import commands, main
from app.core.api import ApiClient
from app.core.manager import UploadManager

commands.ADD_CHUNK = 100
started = threading.Event()
chunks = []
start_batch, add_many = ApiClient.initialize_batch, UploadManager.add_many

def spy_start(self, files):
    started.set()
    return start_batch(self, files)

def spy_add(self, requests):
    sending = started.wait(60) if chunks else started.is_set()
    chunks.append((len(requests), sending))
    return add_many(self, requests)

ApiClient.initialize_batch, UploadManager.add_many = spy_start, spy_add
code = main(sys.argv[1:])
print("CHUNKS", json.dumps(chunks), file=sys.stderr)
sys.exit(code)
"""


def many_files(folder: Path, count: int) -> list[Path]:
    return [make_file(folder / f"d{n // 100}", f"f{n:04d}.txt", 100 + n) for n in range(count)]


def test_a_folder_goes_to_the_engine_in_chunks_that_start_before_the_rest_is_recorded(
    stack: LocalStack, home: Path, tmp_path: Path
) -> None:
    files = many_files(tmp_path / "chunked", 250)
    result = subprocess.run(
        [sys.executable, "-c", CHUNK_SPY, "upload", str(tmp_path / "chunked"), "--api", stack.api_url,
         "--token", stack.token, "--key-prefix", "many/chunked", "--json"],
        capture_output=True, text=True, timeout=300, env=cli_env(home), cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    chunks = json.loads(result.stderr.split("CHUNKS ", 1)[1])  # [size, sending already] per add_many
    assert [size for size, _ in chunks] == [100, 100, 50]
    assert chunks[-1][1] is True, "sending waited until every file was recorded"
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(record["file"] for record in records) == sorted(map(str, files))
    assert {record["status"] for record in records} == {"done"}


@pytest.fixture
def finishing_held_after_the_first_call(stack: LocalStack) -> Iterator[threading.Event]:
    """The first /finalizeBatch call goes through; later ones wait until the event is set."""
    release, calls = threading.Event(), []
    original = stack.routes["/finalizeBatch"]

    def held(event: dict[str, Any], context: Any) -> Any:
        calls.append(event)
        if len(calls) > 1:
            release.wait(WAIT)
        return original(event, context)

    stack.routes["/finalizeBatch"] = held
    try:
        yield release
    finally:
        release.set()
        stack.routes["/finalizeBatch"] = original


def test_json_lines_stream_out_as_files_finish(
    stack: LocalStack, home: Path, tmp_path: Path, finishing_held_after_the_first_call: threading.Event
) -> None:
    files = many_files(tmp_path / "streamed", 120)  # /finalizeBatch finishes at most 50 per call
    process = start_cli(
        home, "upload", str(tmp_path / "streamed"), "--api", stack.api_url, "--token", stack.token,
        "--key-prefix", "many/streamed", "--json",
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()], daemon=True)
    reader.start()
    try:
        first = json.loads(lines.get(timeout=WAIT))  # while the files of later calls cannot finish
        assert first["status"] == "done"
        assert process.poll() is None
        finishing_held_after_the_first_call.set()
        process.wait(WAIT)
        reader.join(WAIT)
    finally:
        finishing_held_after_the_first_call.set()
        process.kill()
        process.communicate()
    assert process.returncode == 0
    records = [first]
    while not lines.empty():
        records.append(json.loads(lines.get_nowait()))
    assert len(records) == len(files)
    assert len({record["key"] for record in records}) == len(files)
    assert {record["status"] for record in records} == {"done"}
