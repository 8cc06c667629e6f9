from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from app.core.journal import SCHEMA_VERSION, Journal, JournalError, JournalPart, UploadNotFoundError
from app.core.models import UploadState

ROOT = Path(__file__).resolve().parents[2]


def new_upload(journal: Journal, **overrides: Any):
    values: dict[str, Any] = {
        "api_url": "https://api.example.com/prod",
        "path": Path("/data/big file.bin"),
        "size": 123_456_789,
        "mtime_ns": 1_700_000_000_123_456_789,
        "fingerprint": "ab" * 32,
        "key": "uploads/big file.bin",
        "metadata": {"organizationId": "org-7", "objectRecordId": 42, "note": "é"},
        "content_type": "application/octet-stream",
        "part_size": 16 * 1024 * 1024,
    }
    values.update(overrides)
    return journal.create_upload(**values)


@pytest.fixture
def journal(tmp_path: Path):
    with Journal(tmp_path / "journal.sqlite3") as journal:
        yield journal


def run_child(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_create_and_get_round_trip(journal: Journal) -> None:
    created = new_upload(journal, overwrite=True, accelerate=True, cdn_base_url="https://cdn.example.com")
    again = journal.get(created.id)
    assert again == created
    assert again is not None
    assert again.path == Path("/data/big file.bin")
    assert again.metadata == {"organizationId": "org-7", "objectRecordId": 42, "note": "é"}
    assert again.state is UploadState.QUEUED
    assert (again.upload_id, again.url, again.link_verified, again.finished_at) == (None, None, None, None)
    assert (again.overwrite, again.accelerate, again.cdn_base_url) == (True, True, "https://cdn.example.com")
    assert journal.get(created.id + 1000) is None


def test_undecodable_path_round_trips(journal: Journal) -> None:
    odd = Path(os.fsdecode(b"/data/caf\xe9.bin"))  # not UTF-8: a surrogate escape on POSIX
    assert journal.get(new_upload(journal, path=odd).id).path == odd


def test_state_plan_upload_id_and_finish(journal: Journal) -> None:
    upload = new_upload(journal)
    journal.set_upload_id(upload.id, "s3-upload-1")
    journal.set_state(upload.id, UploadState.FAILED, "The network is down.")
    journal.set_plan(upload.id, upload.part_size)
    record = journal.get(upload.id)
    assert record is not None
    assert (record.upload_id, record.state, record.message) == (
        "s3-upload-1",
        UploadState.FAILED,
        "The network is down.",
    )
    assert record.updated_at >= record.created_at

    journal.set_state(upload.id, UploadState.UPLOADING)
    assert journal.get(upload.id).message is None  # type: ignore[union-attr]
    journal.record_part(upload.id, 1, "e1", 5)

    journal.set_finished(upload.id, "https://cdn.example.com/uploads/big%20file.bin", True)
    record = journal.get(upload.id)
    assert record is not None
    assert record.state is UploadState.DONE
    assert (record.url, record.link_verified, record.message) == (
        "https://cdn.example.com/uploads/big%20file.bin",
        True,
        None,
    )
    assert record.finished_at is not None
    assert journal.parts(upload.id) == {}, "a finished upload keeps no part records"


def test_opening_a_journal_drops_the_parts_of_finished_uploads(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal(path) as journal:
        done, paused = new_upload(journal), new_upload(journal)
        for upload in (done, paused):
            journal.record_part(upload.id, 1, "e1", 5)
        journal.set_state(done.id, UploadState.DONE)  # as earlier versions left a finished upload
    with Journal(path) as journal:
        assert journal.parts(done.id) == {}
        assert journal.parts(paused.id) == {1: JournalPart(1, "e1", 5)}
        assert journal._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def test_parts_record_replace_and_forget(journal: Journal) -> None:
    upload = new_upload(journal)
    journal.record_part(upload.id, 1, '"etag-1"', 100)
    journal.record_part(upload.id, 2, '"etag-2"', 100)
    journal.record_part(upload.id, 3, '"etag-3"', 50)
    journal.record_part(upload.id, 2, '"etag-2b"', 100)  # sent again: the new record wins
    assert journal.parts(upload.id) == {
        1: JournalPart(1, '"etag-1"', 100),
        2: JournalPart(2, '"etag-2b"', 100),
        3: JournalPart(3, '"etag-3"', 50),
    }
    journal.forget_parts(upload.id, [1, 3, 99])
    assert list(journal.parts(upload.id)) == [2]
    journal.forget_parts(upload.id)
    assert journal.parts(upload.id) == {}


def test_parts_are_dropped_when_they_no_longer_line_up(journal: Journal) -> None:
    upload = new_upload(journal)
    journal.set_upload_id(upload.id, "first")
    journal.record_part(upload.id, 1, "e1", 10)
    journal.set_upload_id(upload.id, "first")  # same id: kept
    journal.set_plan(upload.id, upload.part_size)  # same size: kept
    assert list(journal.parts(upload.id)) == [1]
    journal.set_plan(upload.id, upload.part_size * 2)
    assert journal.parts(upload.id) == {}
    journal.record_part(upload.id, 1, "e1", 10)
    journal.set_upload_id(upload.id, None)  # a forgotten UploadId takes its parts with it
    assert journal.parts(upload.id) == {}


def test_unknown_upload_raises_a_journal_error(journal: Journal) -> None:
    with pytest.raises(UploadNotFoundError, match="no longer in the journal"):
        journal.record_part(404, 1, "e", 1)
    with pytest.raises(UploadNotFoundError):
        journal.set_state(404, UploadState.PAUSED)
    journal.delete(404)  # deleting or hiding what is not there is fine
    journal.hide(404)


def test_unfinished_history_hide_delete(journal: Journal) -> None:
    first = new_upload(journal, key="a")
    second = new_upload(journal, key="b", state=UploadState.PAUSED)
    done_early = new_upload(journal, key="c")
    done_late = new_upload(journal, key="d")
    cancelled = new_upload(journal, key="e")
    journal.set_finished(done_early.id, "u1", None)
    journal.set_finished(done_late.id, "u2", False)
    journal.set_state(cancelled.id, UploadState.CANCELLED)

    assert [u.key for u in journal.unfinished()] == ["a", "b"]
    assert [u.key for u in journal.history()] == ["d", "c"]
    assert [u.key for u in journal.history(limit=1)] == ["d"]
    assert journal.history()[0].link_verified is False

    journal.hide(done_late.id)
    journal.hide(first.id)
    assert [u.key for u in journal.history()] == ["c"]
    assert [u.key for u in journal.unfinished()] == ["b"]
    assert journal.get(done_late.id) is not None  # hidden, still on record

    journal.record_part(second.id, 1, "e", 1)
    journal.delete(second.id)
    assert journal.get(second.id) is None
    assert journal.parts(second.id) == {}


def test_settings_survive_reopen_and_are_durable(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal(path) as journal:
        upload = new_upload(journal)
        journal.record_part(upload.id, 7, "e7", 5)
        pragmas = {name: journal._conn.execute(f"PRAGMA {name}").fetchone()[0]
                   for name in ("journal_mode", "synchronous", "busy_timeout", "user_version")}  # fmt: skip
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["synchronous"] == 2  # FULL
    assert pragmas["busy_timeout"] >= 1000
    assert pragmas["user_version"] == SCHEMA_VERSION
    with Journal(path) as journal:
        assert journal.parts(upload.id) == {7: JournalPart(7, "e7", 5)}


def test_open_default_uses_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3UP_HOME", str(tmp_path))
    with Journal.open_default() as journal:
        assert journal.path == tmp_path / "data" / "journal.sqlite3"
    assert journal.path.exists()


def test_eight_threads_record_parts_at_once(journal: Journal) -> None:
    upload = new_upload(journal)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(index: int) -> None:
        try:
            start.wait()
            for n in range(25):
                number = index * 25 + n + 1
                journal.record_part(upload.id, number, f"etag-{number}", number)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    parts = journal.parts(upload.id)
    assert sorted(parts) == list(range(1, 201))
    assert all(part.etag == f"etag-{n}" and part.size == n for n, part in parts.items())


def test_two_journals_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    with Journal(path) as gui, Journal(path) as cli:
        upload = new_upload(gui)
        cli.record_part(upload.id, 1, "from-cli", 1)
        gui.record_part(upload.id, 2, "from-gui", 2)
        cli.set_state(upload.id, UploadState.PAUSED)
        assert sorted(gui.parts(upload.id)) == [1, 2]
        assert gui.get(upload.id).state is UploadState.PAUSED  # type: ignore[union-attr]


CHILD_WRITER = """
import sys
from pathlib import Path
from app.core.journal import Journal
path, upload, first = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
with Journal(path) as journal:
    print("ready", flush=True)
    for number in range(first, first + 200):
        journal.record_part(upload, number, f"child-{number}", number)
"""


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    with Journal(path) as journal:
        upload = new_upload(journal)
        child = run_child(CHILD_WRITER, str(path), str(upload.id), "1000")
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        for number in range(1, 201):
            journal.record_part(upload.id, number, f"parent-{number}", number)
        assert child.wait(timeout=30) == 0
        child.stdout.close()
        parts = journal.parts(upload.id)
    assert sorted(parts) == [*range(1, 201), *range(1000, 1200)]


CHILD_CRASHER = """
import os, signal, sqlite3, sys
from pathlib import Path
from app.core.journal import Journal
path, upload = Path(sys.argv[1]), int(sys.argv[2])
journal = Journal(path)
for number in range(1, 6):
    journal.record_part(upload, number, f"etag-{number}", 100)
    print(number, flush=True)
# Part 6 is sent but the process dies before its record is committed.
raw = sqlite3.connect(path, isolation_level=None)
raw.execute("BEGIN IMMEDIATE")
raw.execute("INSERT INTO parts (upload_ref, number, etag, size) VALUES (?, 6, 'etag-6', 100)", (upload,))
print("dying", flush=True)
os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
"""


def test_a_crash_keeps_exactly_the_committed_parts(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        upload = new_upload(journal)
    child = run_child(CHILD_CRASHER, str(path), str(upload.id))
    output, _ = child.communicate(timeout=30)
    assert output.split() == ["1", "2", "3", "4", "5", "dying"]
    assert child.returncode != 0
    with Journal(path) as journal:
        assert journal.parts(upload.id) == {n: JournalPart(n, f"etag-{n}", 100) for n in range(1, 6)}
        journal.record_part(upload.id, 6, "etag-6", 100)  # the journal is writable again
        assert len(journal.parts(upload.id)) == 6


CHILD_STREAMER = """
import sys
from pathlib import Path
from app.core.journal import Journal
path, upload = Path(sys.argv[1]), int(sys.argv[2])
journal = Journal(path)
for number in range(1, 10_001):
    journal.record_part(upload, number, f"etag-{number}", number)
    print(number, flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_stream_loses_no_recorded_part(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        upload = new_upload(journal)
    child = run_child(CHILD_STREAMER, str(path), str(upload.id))
    assert child.stdout is not None
    last_reported = 0
    while last_reported < 40:
        last_reported = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    with Journal(path) as journal:
        parts = journal.parts(upload.id)
    # Every part reported as recorded is there, and nothing else than a prefix of the sequence.
    assert last_reported <= len(parts) < 10_000  # killed mid-way, and nothing reported was lost
    assert sorted(parts) == list(range(1, len(parts) + 1))
    assert all(part.etag == f"etag-{n}" for n, part in parts.items())


def test_corrupt_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(JournalError, match="is damaged") as caught:
        Journal(path)
    assert str(path) in str(caught.value)
    assert "Move it away" in str(caught.value)


def test_unopenable_path_gives_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(JournalError, match="cannot be opened or written"):
        Journal(folder)  # a folder where the file should be


def test_foreign_database_and_newer_schema_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE something (x)")
    conn.close()
    with pytest.raises(JournalError, match="not an s3up journal"):
        Journal(foreign)

    newer = tmp_path / "newer.sqlite3"
    Journal(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(JournalError, match="newer version of s3up"):
        Journal(newer)


def test_no_token_is_ever_stored(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        upload = new_upload(journal)
        journal.set_upload_id(upload.id, "upload-1")
        journal.record_part(upload.id, 1, "e", 1)
        journal.set_finished(upload.id, "https://cdn.example.com/k", True)
        columns = [
            row[1].lower()
            for table in ("uploads", "parts")
            for row in journal._conn.execute(f"PRAGMA table_info({table})")
        ]
    assert columns, "the schema should have been read"
    assert not [c for c in columns if any(word in c for word in ("token", "secret", "auth", "password"))]
    content = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("journal"))
    assert b"Authorization" not in content
    assert b"Bearer" not in content
