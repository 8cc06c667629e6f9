"""A folder of many files: added to the engine in chunks that start sending at once, and `--json` lines
streamed as files finish (tests/cli/measure_folder.py measures 10,000 files by hand)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.journal import Journal, JournalUpload
from app.core.states import UploadState
from backend.local import LocalStack
from tests.cli.support import METADATA, ROOT, cli_env, make_file, run_cli, start_cli

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


# Ctrl-C (SIGINT to itself) as the second chunk is handed to the engine: that chunk is recorded whole,
# then the command stops as Ctrl-C says.
CTRL_C_SPY = """
import os, signal, sys
from app.cli import commands, main
from app.core.manager import UploadManager

commands.ADD_CHUNK = 100
add_many, calls = UploadManager.add_many, []

def spy_add(self, requests):
    calls.append(len(requests))
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGINT)
    return add_many(self, requests)

UploadManager.add_many = spy_add
sys.exit(main(sys.argv[1:]))
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


def stopped_while_added(stack: LocalStack, home: Path, folder: Path, *extra: str) -> list[JournalUpload]:
    """`s3up upload FOLDER` stopped by Ctrl-C as its second chunk is added (CTRL_C_SPY): it exits 130 with
    its sentence, and both chunks are recorded whole. Returns what the journal holds."""
    result = subprocess.run(
        [sys.executable, "-c", CTRL_C_SPY, "upload", str(folder), "--api", stack.api_url, "--token",
         stack.token, "--json", *extra],
        capture_output=True, text=True, timeout=300, env=cli_env(home), cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip() == (
        "s3up: Stopped by Ctrl-C; what was started is paused, and `s3up resume --all` continues it."
    )
    with Journal(home / "data" / "journal.sqlite3") as journal:
        recorded = journal.unfinished() + journal.history(1000)
    assert len(recorded) == 200  # both chunks whole; the third was never added
    return recorded


def test_ctrl_c_while_a_folder_is_added_records_the_chunk_whole_and_resume_finishes_it(
    home: Path, tmp_path: Path
) -> None:
    files = many_files(tmp_path / "stopped", 250)
    with LocalStack(port=0, core_only=True) as existing:  # every file a multipart upload
        extra = ("--metadata", METADATA, "--cdn-base-url", existing.cdn_base_url)
        recorded = stopped_while_added(existing, home, tmp_path / "stopped", *extra)
        resumed = run_cli(home, "resume", "--all", "--json", "--token", existing.token)
    assert resumed.returncode == 0, resumed.stdout
    unfinished = {str(upload.path) for upload in recorded if upload.state is not UploadState.DONE}
    assert {json.loads(line)["file"] for line in resumed.stdout.splitlines()} == unfinished
    assert {str(upload.path) for upload in recorded} <= set(map(str, files))


def test_resume_after_ctrl_c_finishes_the_single_put_files_of_a_folder(
    stack: LocalStack, home: Path, tmp_path: Path
) -> None:
    many_files(tmp_path / "singles", 120)
    reached, release = threading.Event(), threading.Event()
    original = stack.routes["/finalizeBatch"]

    def held(event: dict[str, Any], context: Any) -> Any:
        reached.set()
        release.wait(WAIT)
        return {"statusCode": 504, "body": json.dumps({"message": "Endpoint request timed out"})}

    stack.routes["/finalizeBatch"] = held
    try:
        process = start_cli(home, "upload", str(tmp_path / "singles"), "--api", stack.api_url, "--token",
                            stack.token, "--key-prefix", "many/singles", "--json")  # fmt: skip
        try:
            assert reached.wait(WAIT), "no file was finished"
            process.send_signal(signal.SIGINT)  # files sent, others started: each a single PUT
            process.communicate(timeout=WAIT)
        finally:
            process.kill()
        assert process.returncode == 130
    finally:
        release.set()
        stack.routes["/finalizeBatch"] = original
    resumed = run_cli(home, "resume", "--all", "--json", "--token", stack.token)
    assert {json.loads(line)["status"] for line in resumed.stdout.splitlines()} == {"done"}, resumed.stdout
    assert resumed.returncode == 0
