"""The engine in a process of its own (`EngineProcess` ↔ `engine_host`), against the local stack: uploads,
tokens asked of the app, errors that cross the pipe, a journal that cannot open, a killed engine, and an
app that dies without a word."""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.adding import new_upload
from app.core.commands import Action, Command
from app.core.engine_host import ENGINE_LOG_FILENAME, _send_reply, _Tokens
from app.core.engine_process import MAX_RESTARTS, EngineProcess, EngineStoppedError
from app.core.engine_wire import REMOTE_CALLS, EngineControls, TokenAnswer, portable
from app.core.errors import ApiUnreachableError, NotThisApiError, ServerError, UploadError
from app.core.journal import Journal, JournalError
from app.core.manager import UploadManager
from app.core.models import MIB, TransferSettings, UploadState, UploadStatus
from app.core.ownership import BusyElsewhereError
from backend.local import LocalStack
from tests.core.conftest import fetch, request

SETTINGS = TransferSettings(max_connections=4, per_file_connections=4, part_size=5 * MIB)


class Tokens:
    """The app's side of the token questions: counts them, answers with the stack's token."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.asked: list[str] = []
        self.threads: set[str] = set()

    def __call__(self, api_url: str) -> str | None:
        self.asked.append(api_url)
        self.threads.add(threading.current_thread().name)
        return self.token


class Watched:
    """The newest status of each upload, as the app hears of them."""

    def __init__(self) -> None:
        self.latest: dict[int, UploadStatus] = {}
        self._lock = threading.Lock()

    def __call__(self, status: UploadStatus) -> None:
        with self._lock:
            self.latest[status.id] = status

    def wait_for(self, ids: list[int], states: set[UploadState], timeout: float = 60) -> list[UploadStatus]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [self.latest.get(upload_id) for upload_id in ids]
            if all(status is not None and status.state in states for status in found):
                return [status for status in found if status is not None]
            time.sleep(0.02)
        raise AssertionError(f"not reached in {timeout} s: {found}")


@pytest.fixture
def start_engine(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    started: list[EngineProcess] = []

    def start(tokens: Callable[[str], str | None], **options: Any) -> EngineProcess:
        engine = EngineProcess(
            tokens,
            options.get("settings", SETTINGS),
            journal_path=options.get("journal_path", tmp_path / "journal.sqlite3"),
            log_folder=tmp_path / "logs",
            max_restarts=options.get("max_restarts", MAX_RESTARTS),
        )
        started.append(engine)
        return engine

    yield start
    for engine in started:
        engine.shutdown()


def test_the_engine_process_uploads_and_reports_to_the_app(
    stack: LocalStack,
    start_engine: Callable[..., EngineProcess],
    make_file: Callable[..., Path],
    tmp_path: Path,
) -> None:
    tokens = Tokens(stack.token)
    engine = start_engine(tokens)
    assert engine.pid is not None
    assert engine.pid != os.getpid()
    command = Path(f"/proc/{engine.pid}/cmdline").read_bytes().split(b"\0")
    assert b"--engine-process" in command  # the app's own program, no multiprocessing machinery:
    assert not [pid for pid in _children() if b"resource_tracker" in _cmdline(pid)]
    watched = Watched()
    engine.subscribe(watched)
    small = make_file("small.bin", 200_000)
    big = make_file("big.bin", 12 * MIB)  # three parts
    missing = tmp_path / "files" / "missing.bin"

    result = engine.add_many(
        [
            request(small, stack.api_url, "proc/small.bin"),
            request(big, stack.api_url, "proc/big.bin"),
            request(missing, stack.api_url, "proc/missing.bin"),
        ]
    )

    assert [status.key for status in result.added] == ["proc/small.bin", "proc/big.bin"]
    [(refused_request, error)] = result.refused
    assert refused_request.path == missing
    assert isinstance(error, UploadError)
    assert error.message
    done = watched.wait_for([status.id for status in result.added], {UploadState.DONE})
    for status, path in zip(done, [small, big], strict=True):
        assert status.url
        assert fetch(status.url) == path.read_bytes()
    assert tokens.asked
    assert set(tokens.asked) == {stack.api_url}
    assert tokens.threads == {"s3up-engine-token_0"}  # answered beside the reader, never on it
    history = engine.history(10)
    assert {status.key for status in history} == {"proc/small.bin", "proc/big.bin"}
    engine.shutdown()
    log_text = (tmp_path / "logs" / ENGINE_LOG_FILENAME).read_text(encoding="utf-8")
    assert stack.token not in log_text
    with Journal(
        tmp_path / "journal.sqlite3"
    ) as journal:  # the engine closed it; another process may open it
        assert {record.key for record in journal.history(10)} == {"proc/small.bin", "proc/big.bin"}


def test_errors_cross_the_pipe_with_their_sentence_and_class(
    stack: LocalStack, start_engine: Callable[..., EngineProcess]
) -> None:
    engine = start_engine(Tokens(stack.token))

    refusal = engine.execute(Command(Action.PAUSE, (424242,))).first_refusal
    assert isinstance(refusal, UploadError)
    assert "424242" in refusal.message
    with pytest.raises(ApiUnreachableError) as unreachable:
        engine.remote_uploads("http://127.0.0.1:9/not-an-api")  # nothing listens on port 9
    assert unreachable.value.transient
    assert "cannot be reached" in unreachable.value.message
    with pytest.raises(UploadError, match="no command"):
        engine._call("shutdown")  # only the controls in REMOTE_CALLS run in the engine


def test_an_error_that_cannot_be_rebuilt_crosses_as_its_sentence() -> None:
    busy = BusyElsewhereError(7, 1234)
    crossed = portable(busy)
    assert type(crossed) is UploadError
    assert crossed.message == busy.message
    plain = NotThisApiError("Not the upload API.", status=404)
    assert portable(plain) is plain


def test_a_journal_that_cannot_be_opened_is_said_when_the_engine_starts(
    start_engine: Callable[..., EngineProcess], tmp_path: Path
) -> None:
    not_a_database = tmp_path / "journal.sqlite3"
    not_a_database.write_bytes(b"this is not SQLite" * 100)

    with pytest.raises(JournalError) as raised:
        start_engine(Tokens(None), journal_path=not_a_database)
    assert raised.value.message


def kill(engine: EngineProcess) -> int:
    """SIGKILL the engine process; returns its pid once it is gone."""
    pid = engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return pid


def test_a_killed_engine_is_started_again_and_resumes_from_the_journal(
    stack: LocalStack, start_engine: Callable[..., EngineProcess], make_file: Callable[..., Path]
) -> None:
    slow = TransferSettings(
        max_connections=2, per_file_connections=2, part_size=5 * MIB, bandwidth_limit=4 * MIB
    )
    engine = start_engine(Tokens(stack.token), settings=slow)
    restarted = threading.Event()
    restored_by_engine: list[list[UploadStatus]] = []
    engine.when_restarted(lambda restored: (restored_by_engine.append(restored), restarted.set()))
    watched = Watched()
    engine.subscribe(watched)
    file = make_file("restart.bin", 24 * MIB)  # five parts, about 6 s at 4 MiB/s
    [added] = engine.add_many([request(file, stack.api_url, "proc/restart.bin")]).added
    watched.wait_for([added.id], {UploadState.UPLOADING})
    deadline = time.monotonic() + 20
    while watched.latest[added.id].parts_done < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert watched.latest[added.id].parts_done >= 1

    old_pid = kill(engine)

    assert restarted.wait(30)
    assert engine.pid not in (None, old_pid)
    [[restored]] = restored_by_engine  # the new engine knows the upload from the journal only
    assert engine.restore() == []  # loaded before it took calls
    assert restored.id == added.id
    assert restored.state is UploadState.PAUSED
    assert restored.parts_done >= 1
    assert engine.execute(Command(Action.RESUME, (added.id,))).first_refusal is None
    [done] = watched.wait_for([added.id], {UploadState.DONE})
    assert done.url
    assert fetch(done.url) == file.read_bytes()


def call_in_background(call: Callable[[], object]) -> tuple[threading.Thread, list[EngineStoppedError]]:
    """Run `call` on a thread that keeps the `EngineStoppedError` it ends with, if any."""
    failures: list[EngineStoppedError] = []

    def run() -> None:
        try:
            call()
        except EngineStoppedError as error:
            failures.append(error)

    caller = threading.Thread(target=run)
    caller.start()
    return caller, failures


def test_a_call_waiting_when_the_engine_dies_fails_with_a_sentence(
    stack: LocalStack, start_engine: Callable[..., EngineProcess]
) -> None:
    answering = threading.Event()
    release = threading.Event()

    def slow_token(api_url: str) -> str | None:  # the keyring takes its time: the engine's call waits
        answering.set()
        release.wait(10)
        return stack.token

    engine = start_engine(slow_token)
    for dying_engine in (0, 1):
        answering.clear()
        release.clear()
        caller, failures = call_in_background(lambda: engine.remote_uploads(stack.api_url))
        assert answering.wait(30)
        kill(engine)
        caller.join(10)
        release.set()
        [error] = failures
        assert "started again" in error.message
        assert error.engine == dying_engine  # the first engine, then the one of the first restart
        assert engine.history(1) == []  # the new engine answers


def test_an_engine_that_keeps_dying_is_left_stopped_and_says_so(
    stack: LocalStack, start_engine: Callable[..., EngineProcess]
) -> None:
    engine = start_engine(Tokens(stack.token), max_restarts=1)
    restarted = threading.Event()
    stopped: list[EngineStoppedError] = []
    engine.when_restarted(lambda _restored: restarted.set())
    engine.when_stopped(stopped.append)

    kill(engine)
    assert restarted.wait(30)
    assert engine.history(1) == []
    kill(engine)
    deadline = time.monotonic() + 10
    while not stopped and time.monotonic() < deadline:
        time.sleep(0.02)

    [error] = stopped
    assert "several times in a row" in error.message
    with pytest.raises(EngineStoppedError, match="start it again"):
        engine.history(1)
    started = time.monotonic()
    engine.shutdown()
    assert time.monotonic() - started < 5


def test_a_command_sent_while_the_engine_restarts_finds_its_upload(
    stack: LocalStack, start_engine: Callable[..., EngineProcess], make_file: Callable[..., Path]
) -> None:
    slow = TransferSettings(
        max_connections=2, per_file_connections=2, part_size=5 * MIB, bandwidth_limit=2 * MIB
    )
    engine = start_engine(Tokens(stack.token), settings=slow)
    file = make_file("cancel-me.bin", 20 * MIB)
    [added] = engine.add_many([request(file, stack.api_url, "proc/cancel-me.bin")]).added

    dead = kill(engine)
    deadline = time.monotonic() + 20
    while engine.pid == dead and time.monotonic() < deadline:  # a new engine is being started
        time.sleep(0.005)
    result = engine.execute(Command(Action.CANCEL, (added.id,)))  # waits until it has restored

    assert result.first_refusal is None
    assert result.done == (added.id,)


def test_calls_fail_at_once_when_the_app_quits(
    stack: LocalStack, start_engine: Callable[..., EngineProcess]
) -> None:
    answering = threading.Event()

    def stuck_keyring(api_url: str) -> str | None:  # an engine call that waits on the app forever
        answering.set()
        time.sleep(3)
        return stack.token

    engine = start_engine(stuck_keyring)
    caller, failures = call_in_background(lambda: engine.remote_uploads(stack.api_url))
    assert answering.wait(10)
    started = time.monotonic()
    engine.refuse_calls()
    caller.join(5)

    assert time.monotonic() - started < 1
    [error] = failures
    assert "quitting" in error.message
    with pytest.raises(EngineStoppedError, match="quitting"):
        engine.history(1)


def test_quitting_while_a_new_engine_starts_leaves_no_engine_behind(
    stack: LocalStack, start_engine: Callable[..., EngineProcess]
) -> None:
    engine = start_engine(Tokens(stack.token))
    dead = kill(engine)
    deadline = time.monotonic() + 20
    while engine.pid == dead and time.monotonic() < deadline:  # the new engine is starting
        time.sleep(0.005)
    new_pid = engine.pid
    assert new_pid is not None

    started = time.monotonic()
    engine.shutdown()

    assert time.monotonic() - started < 15
    assert not _alive(new_pid)
    assert not [pid for pid in _children() if b"--engine-process" in _cmdline(pid)]


def test_an_engine_that_cannot_start_says_why(
    start_engine: Callable[..., EngineProcess], tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "logs-file"
    not_a_folder.write_text("a file where the log folder should be")

    with pytest.raises(UploadError, match=r"could not start: .*Not a directory"):
        EngineProcess(Tokens(None), SETTINGS, journal_path=tmp_path / "j.sqlite3", log_folder=not_a_folder)


def test_an_app_folder_in_the_current_directory_is_not_the_engine(
    start_engine: Callable[..., EngineProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    impostor = tmp_path / "cwd" / "app"
    impostor.mkdir(parents=True)
    (impostor / "__init__.py").write_text("raise SystemExit('the wrong app was imported')\n")
    monkeypatch.chdir(impostor.parent)

    engine = start_engine(Tokens(None))

    assert engine.history(1) == []


class FakePipe:
    """The engine's end of the pipe, as the token source uses it: records the questions."""

    def __init__(self) -> None:
        self.sent: list[object] = []

    def send(self, message: object) -> bool:
        self.sent.append(message)
        return True


def test_a_token_question_nobody_answers_fails_as_passing_not_as_signed_out() -> None:
    tokens = _Tokens(FakePipe())  # type: ignore[arg-type]
    tokens.close()  # the app quit: nobody reads the questions

    with pytest.raises(ServerError) as raised:
        tokens("https://api.example/prod")
    assert raised.value.transient  # retried later, never recorded as "sign in again"


def test_an_answer_to_a_question_asked_before_a_sign_in_is_not_kept() -> None:
    pipe = FakePipe()
    tokens = _Tokens(pipe)  # type: ignore[arg-type]
    url = "https://api.example/prod"
    got: list[str | None] = []
    asking = threading.Thread(target=lambda: got.append(tokens(url)))
    asking.start()
    deadline = time.monotonic() + 5
    while not pipe.sent and time.monotonic() < deadline:
        time.sleep(0.01)
    [question] = pipe.sent
    tokens.forget(url)  # the user signs in while the old answer is on its way
    tokens.answer(TokenAnswer(question.id, "old-token-0123"))  # type: ignore[attr-defined]
    asking.join(5)

    assert got == ["old-token-0123"]  # the request that asked gets it

    def ask_again() -> None:
        with contextlib.suppress(ServerError):  # unanswered: the test closes the token source
            tokens(url)

    asking_again = threading.Thread(target=ask_again)
    asking_again.start()
    deadline = time.monotonic() + 5
    while len(pipe.sent) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(pipe.sent) == 2  # the next request asks again: the old answer was not cached
    tokens.close()
    asking_again.join(5)


def test_a_long_answer_crosses_in_parts_of_200() -> None:
    pipe = FakePipe()

    _send_reply(pipe, 7, list(range(450)))  # type: ignore[arg-type]

    assert [type(message).__name__ for message in pipe.sent] == ["ReplyPart", "ReplyPart", "Reply"]
    assert [len(message.items) for message in pipe.sent[:2]] == [200, 200]  # type: ignore[attr-defined]
    assert pipe.sent[2].value == list(range(400, 450))  # type: ignore[attr-defined]


def test_450_unfinished_uploads_are_restored_whole_through_the_pipe(
    start_engine: Callable[..., EngineProcess], make_file: Callable[..., Path], tmp_path: Path
) -> None:
    journal_path = tmp_path / "journal.sqlite3"
    files = [make_file(f"r{number:03d}.bin", 10) for number in range(450)]
    with Journal(journal_path) as journal:
        journal.create_uploads(
            [
                new_upload(request(path, "https://api.example/prod", f"restore/{path.name}"), SETTINGS)
                for path in files
            ]
        )

    engine = start_engine(Tokens(None), journal_path=journal_path)
    restored = engine.restore()

    assert [status.key for status in restored] == [f"restore/{path.name}" for path in files]
    assert {status.state for status in restored} == {UploadState.PAUSED}


APP_THAT_DIES = """
import os, sys
from pathlib import Path
from app.core.engine_process import EngineProcess
from app.core.models import TransferSettings
engine = EngineProcess(lambda url: None, TransferSettings(), journal_path=Path(sys.argv[1]),
                       log_folder=Path(sys.argv[2]))
print(engine.pid, flush=True)
os._exit(3)  # no shutdown, no atexit: as a crash or a kill would
"""


def test_the_engine_ends_when_the_app_dies_without_a_word(tmp_path: Path) -> None:
    app = subprocess.run(
        [sys.executable, "-c", APP_THAT_DIES, str(tmp_path / "journal.sqlite3"), str(tmp_path / "logs")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert app.returncode == 3, app.stderr
    engine_pid = int(app.stdout.split()[0])
    deadline = time.monotonic() + 15
    while _alive(engine_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(engine_pid), "the engine process outlived the app"
    log_text = (tmp_path / "logs" / ENGINE_LOG_FILENAME).read_text(encoding="utf-8")
    assert "closed the engine's pipe" in log_text


def _children() -> list[int]:
    """This process's children (Linux)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        if f"PPid:\t{os.getpid()}" in lines:
            found.append(int(status.parent.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # it went meanwhile
        return b""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:  # it went meanwhile
        return False


def test_the_engine_process_offers_exactly_the_managers_controls() -> None:
    controls = {
        name
        for name, member in inspect.getmembers(EngineControls, inspect.isfunction)
        if not name.startswith("_")
    }
    assert controls - {"subscribe", "shutdown"} == REMOTE_CALLS
    for name in controls:
        wanted = inspect.signature(getattr(EngineControls, name))
        for implementation in (UploadManager, EngineProcess):
            assert (
                inspect.signature(getattr(implementation, name)).parameters.keys() == wanted.parameters.keys()
            ), (
                implementation.__name__,
                name,
            )


def test_restart_callbacks_are_told_before_the_new_engine_takes_calls(
    start_engine: Callable[..., EngineProcess],
) -> None:
    engine = start_engine(Tokens(None))
    told: list[str] = []
    waiting_caller: list[threading.Thread] = []

    def on_restarted(_restored: list[UploadStatus]) -> None:
        caller, _failures = call_in_background(lambda: (engine.history(1), told.append("call answered")))
        waiting_caller.append(caller)
        time.sleep(0.3)  # a call made now waits until every callback has returned
        told.append("callback returned")

    engine.when_restarted(on_restarted)
    kill(engine)
    deadline = time.monotonic() + 30
    while not waiting_caller and time.monotonic() < deadline:
        time.sleep(0.02)
    waiting_caller[0].join(30)

    assert told == ["callback returned", "call answered"]
