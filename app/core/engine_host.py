"""The engine's own process: runs `UploadManager` on the journal and answers the app over a pipe.

The desktop app starts it through `engine_process.EngineProcess`, so that the upload threads never take
the interpreter lock from the window's thread (with 10,000 files in flight, painting waited for it).
Calls run on a small thread pool, so that a call that needs a token (asked of the app over the same
pipe) never blocks the loop that reads the answer. When the pipe closes (the app quit or died), the engine
shuts down as at a normal quit: running uploads stay resumable in the journal.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from app.core.engine import Engine, open_engine
from app.core.engine_wire import (
    ITEMS_PER_MESSAGE,
    REMOTE_CALLS,
    STARTUP_ID,
    STOPPED_ID,
    Call,
    Failure,
    Ready,
    Reply,
    ReplyPart,
    SharedPipe,
    Statuses,
    Stop,
    TokenAnswer,
    TokenQuestion,
    portable,
    portable_value,
)
from app.core.errors import ServerError, UploadError
from app.core.logs import register_secret, setup_logging
from app.core.models import TransferSettings, UploadStatus

log = logging.getLogger(__name__)

ENGINE_LOG_FILENAME = "s3up-engine.log"
STATUS_BATCH_SECONDS = 0.05  # statuses gathered before a batch is sent: the app shows ~10 a second
TOKEN_CACHE_SECONDS = 1.0  # a token asked for is reused this long (every request needs one)
TOKEN_WAIT_SECONDS = 30.0  # a keyring may prompt, but an app that stopped answering means no token
CALL_THREADS = 8  # more than the app ever has waiting (its command, add and I/O workers)


class _Tokens:
    """The engine's token source: asks the app, which holds the keyring and the session's tokens.

    When the app does not answer (it is quitting or gone), a request fails as a passing error, never as
    "no token": a request sent without one would be refused and the upload kept as needing sign-in.
    """

    def __init__(self, pipe: SharedPipe) -> None:
        self._pipe = pipe
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[threading.Event, list[str | None]]] = {}
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._generation: dict[str, int] = {}  # bumped by `forget`: older answers are not cached
        self._next_id = 1
        self._closed = False

    def __call__(self, api_url: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(api_url)
            if cached is not None and now - cached[0] < TOKEN_CACHE_SECONDS:
                return cached[1]
            if self._closed:
                raise _no_answer()
            question_id = self._next_id
            self._next_id += 1
            generation = self._generation.get(api_url, 0)
            answered = threading.Event()
            slot: list[str | None] = []
            self._waiting[question_id] = (answered, slot)
        try:
            sent = self._pipe.send(TokenQuestion(question_id, api_url))
            if not sent or not answered.wait(TOKEN_WAIT_SECONDS) or not slot:
                raise _no_answer()
        finally:
            with self._lock:
                self._waiting.pop(question_id, None)
        token = slot[0]
        if token:
            register_secret(token)  # this process's log lines hide it too
        with self._lock:
            if self._generation.get(api_url, 0) == generation:  # not signed in or out meanwhile
                self._cache[api_url] = (time.monotonic(), token)
        return token

    def answer(self, message: TokenAnswer) -> None:
        with self._lock:
            waiting = self._waiting.get(message.id)
        if waiting is not None:
            waiting[1].append(message.token)
            waiting[0].set()

    def forget(self, api_url: str) -> None:
        """The user signed in or out: ask again, and keep no answer to a question asked before."""
        with self._lock:
            self._cache.pop(api_url, None)
            self._generation[api_url] = self._generation.get(api_url, 0) + 1

    def close(self) -> None:
        """The app no longer answers: every question waiting, and every later one, fails as passing."""
        with self._lock:
            self._closed = True
            waiting = list(self._waiting.values())
        for answered, _slot in waiting:
            answered.set()


def _no_answer() -> ServerError:
    return ServerError("s3up did not answer the upload engine's question for the token (it may be quitting).")


class _StatusForwarder:
    """Sends the newest status of each changed upload to the app, in batches."""

    def __init__(self, pipe: SharedPipe) -> None:
        self._pipe = pipe
        self._lock = threading.Lock()
        self._pending: dict[int, UploadStatus] = {}
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="s3up-engine-statuses", daemon=True)
        self._thread.start()

    def put(self, status: UploadStatus) -> None:
        """The manager's subscriber (called on engine threads)."""
        with self._lock:
            self._pending[status.id] = status
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(STATUS_BATCH_SECONDS)
            self._wake.clear()
            with self._lock:
                batch = list(self._pending.values())
                self._pending.clear()
                stopped = self._stopped
            for start in range(0, len(batch), ITEMS_PER_MESSAGE):
                if not self._pipe.send(Statuses(batch[start : start + ITEMS_PER_MESSAGE])):
                    return
            if stopped:
                return

    def stop(self) -> None:
        """Send what is pending, then end."""
        with self._lock:
            self._stopped = True
        self._wake.set()
        self._thread.join(5.0)


def _run_call(engine: Engine, tokens: _Tokens, pipe: SharedPipe, call: Call) -> None:
    try:
        if call.method not in REMOTE_CALLS:
            raise UploadError(f"The upload engine has no command {call.method!r}.")
        if call.method == "credentials_changed":
            tokens.forget(*call.args, **call.kwargs)
        value: Any = getattr(engine.manager, call.method)(*call.args, **call.kwargs)
    except UploadError as error:
        pipe.send(Failure(call.id, portable(error)))
    except Exception:
        log.exception("The engine's %s failed", call.method)
        pipe.send(Failure(call.id, None, traceback.format_exc(limit=8)))
    else:
        try:
            _send_reply(pipe, call.id, portable_value(value))
        except Exception:  # an answer that cannot be pickled: the app must still hear of the call
            log.exception("The answer to %s could not be sent", call.method)
            pipe.send(Failure(call.id, None, traceback.format_exc(limit=8)))


def _send_reply(pipe: SharedPipe, call_id: int, value: Any) -> None:
    """A long list goes in parts of `ITEMS_PER_MESSAGE`, so that no message holds the app's lock long."""
    if isinstance(value, list):
        while len(value) > ITEMS_PER_MESSAGE:
            pipe.send(ReplyPart(call_id, value[:ITEMS_PER_MESSAGE]))
            value = value[ITEMS_PER_MESSAGE:]
    pipe.send(Reply(call_id, value))


def host_engine(
    connection: Connection, settings: TransferSettings, journal_path: Path | None, log_folder: Path | None
) -> None:
    """The engine process's main function: serve calls until `Stop` or until the app's end of the pipe
    closes, then shut the engine down and close the journal."""
    pipe = SharedPipe(connection)
    tokens = _Tokens(pipe)
    try:
        setup_logging(log_folder, filename=ENGINE_LOG_FILENAME)
        engine = open_engine(tokens, settings, journal_path=journal_path)
    except UploadError as error:  # e.g. the journal cannot be opened: the app tells the user
        pipe.send(Failure(STARTUP_ID, portable(error)))
        return
    except Exception as error:  # e.g. the log folder cannot be made
        log.exception("The upload engine could not start")
        pipe.send(Failure(STARTUP_ID, UploadError(f"The upload engine could not start: {error}")))
        return
    forwarder = _StatusForwarder(pipe)
    engine.manager.subscribe(forwarder.put)
    calls = ThreadPoolExecutor(max_workers=CALL_THREADS, thread_name_prefix="s3up-engine-call")
    pipe.send(Ready())
    stop = Stop(timeout=5.0)
    try:
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):
                log.warning("The app closed the engine's pipe; the engine stops")
                break
            if isinstance(message, Call):
                calls.submit(_run_call, engine, tokens, pipe, message)
            elif isinstance(message, TokenAnswer):
                tokens.answer(message)
            elif isinstance(message, Stop):
                stop = message
                break
    finally:
        tokens.close()  # nobody reads the answers any more: a request now fails as passing
        engine.close(stop.timeout)  # the uploads stop first (when the app died, nobody waits for calls)
        calls.shutdown(wait=True, cancel_futures=True)
        forwarder.stop()
        pipe.send(Reply(STOPPED_ID, None))  # the engine has stopped and the journal is closed
        connection.close()
