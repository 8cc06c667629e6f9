"""The local test API of `python -m app --local`, in a process of its own.

Why a process: the local stack's S3 server receives every byte the engine sends, and its API answers
every call. In the window's process its threads took the interpreter lock the window needs to paint:
with a folder of 10,000 files the longest stall of the event loop was 178 ms and the window's process
peaked at 211 MiB (`benchmarks/bench_gui_stall.py --stack in-app`).

The child is `python -P -m app.local_backend LOG_FOLDER`. It starts the stack on its data folder (kept
across restarts, so uploads and links survive), writes one JSON line on stdout (the API URL, the
CDN base URL and the stack's token, or why it cannot start) and serves until its stdin closes: when the
app quits, or dies. If the child dies, a new one starts on the same folder (same address, same token).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from app.core.engine_launch import child_environment

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # the first start creates the data folder and the bucket
STOP_GRACE = 10.0  # for the stack to close its servers and stores, before the process is killed
MAX_RESTARTS = 3  # deaths within RESTART_WINDOW seconds that are followed by a new child
RESTART_WINDOW = 300.0
LOG_FILENAME = "s3up-local-api.log"  # beside the app's own log
SEE_LOG = "the log folder has the details."
STOPPED_FOR_GOOD = (
    "The local test API stopped and could not be started again, so the uploads cannot go on. Quit s3up "
    "and start it again with --local: your uploads resume where they stopped (the log folder has the "
    "details)."
)
NEEDS_PACKAGES = "--local needs the local test API's packages: pip install -e '.[local]'"


@dataclass(frozen=True)
class LocalApi:
    """An API the app started (the local test stack): signed in to it with a token kept in memory."""

    api_url: str
    cdn_base_url: str
    token: str = field(repr=False)


class LocalBackendError(Exception):
    """The local test API cannot start; `message` is a sentence for the user."""

    def __init__(self, message: str, *, missing_packages: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing_packages = missing_packages


@contextmanager
def local_backend(log_folder: Path, *, timeout: float = START_TIMEOUT) -> Iterator[LocalBackend]:
    """Start the local stack in a child process and yield it (`api` is its address); stop it on the way
    out.

    Raises LocalBackendError when it cannot start (a taken port, an unusable data folder, missing
    packages, or no answer within `timeout` seconds)."""
    backend = LocalBackend(log_folder, timeout=timeout)
    try:
        yield backend
    finally:
        backend.stop()


class LocalBackend:
    """The local stack's child process. When it dies, a new one starts on the same data folder, so it
    answers at the same address with the same token, and the engine's retries find it again; after
    `MAX_RESTARTS` deaths within `RESTART_WINDOW` seconds, or a failed start, it stays stopped and the
    `when_stopped` callbacks hear why."""

    def __init__(self, log_folder: Path, *, timeout: float = START_TIMEOUT) -> None:
        self._log_folder = log_folder
        self._timeout = timeout
        self._lock = threading.Lock()
        self._stopping = False
        self._starting: subprocess.Popen[bytes] | None = None  # a new child that has not answered yet
        self._deaths: deque[float] = deque()
        self._on_stopped: list[Callable[[str], None]] = []
        self._child, self.api = self._start()
        self._watcher = threading.Thread(target=self._watch, name="s3up-local-api-watch", daemon=True)
        self._watcher.start()

    @property
    def pid(self) -> int:
        with self._lock:
            return self._child.pid

    def when_stopped(self, callback: Callable[[str], None]) -> None:
        """Call `callback(sentence)` (on a thread of its own) if the local API dies and stays stopped."""
        with self._lock:
            self._on_stopped.append(callback)

    def stop(self) -> None:
        """Stop the child, and a new one being started. Idempotent."""
        with self._lock:
            self._stopping = True
            child, starting = self._child, self._starting
        if starting is not None:
            _end(starting)  # its answer then never comes: the watcher stops waiting for it
        _stop(child)
        self._watcher.join(2 * STOP_GRACE + 5)

    def _start(self) -> tuple[subprocess.Popen[bytes], LocalApi]:
        child = subprocess.Popen(
            [sys.executable, "-P", "-m", "app.local_backend", str(self._log_folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_environment(),
        )
        with self._lock:
            self._starting = child
            stopping = self._stopping
        try:
            if stopping:
                raise LocalBackendError("s3up is quitting.")
            api = _address(_first_line(child, self._timeout))
        except BaseException:
            _stop(child)
            raise
        finally:
            with self._lock:
                self._starting = None
        return child, api

    def _watch(self) -> None:
        """Wait for the child to end; unless it was stopped, start a new one."""
        while True:
            with self._lock:
                child = self._child
            child.wait()
            if self._is_stopping():
                return
            _stop(child)  # closes its pipes
            log.error("The local test API ended unexpectedly (exit code %s)", child.returncode)
            now = time.monotonic()
            while self._deaths and now - self._deaths[0] > RESTART_WINDOW:
                self._deaths.popleft()
            self._deaths.append(now)
            if len(self._deaths) > MAX_RESTARTS:
                self._stays_stopped(f"it ended {len(self._deaths)} times within a few minutes")
                return
            try:
                new_child, api = self._start()
            except LocalBackendError as error:
                if not self._is_stopping():
                    self._stays_stopped(f"it could not start again: {error.message}")
                return
            if api != self.api:
                log.error("The local test API came back at %s instead of %s", api.api_url, self.api.api_url)
            with self._lock:
                stopping = self._stopping
                if not stopping:
                    self._child = new_child
            if stopping:
                _stop(new_child)
                return
            log.warning("The local test API was started again (process %s)", new_child.pid)

    def _is_stopping(self) -> bool:
        with self._lock:
            return self._stopping

    def _stays_stopped(self, why: str) -> None:
        log.error("The local test API is not started again: %s", why)
        with self._lock:
            callbacks = list(self._on_stopped)
        for callback in callbacks:
            callback(STOPPED_FOR_GOOD)


def _address(answer: dict[str, str]) -> LocalApi:
    """The API's address from the child's answer; LocalBackendError with the child's reason otherwise."""
    if "missing" in answer:
        raise LocalBackendError(f"{NEEDS_PACKAGES} ({answer['missing']}).", missing_packages=True)
    if "error" in answer:
        raise LocalBackendError(answer["error"])
    try:
        return LocalApi(answer["api_url"], answer["cdn_base_url"], answer["token"])
    except KeyError as missing:
        raise LocalBackendError(f"The local test API answered without {missing}; {SEE_LOG}") from None


def _first_line(child: subprocess.Popen[bytes], timeout: float) -> dict[str, str]:
    """The child's answer, read without blocking past `timeout` (a child that hangs cannot hang the app)."""
    assert child.stdout is not None
    descriptor = child.stdout.fileno()
    received = b""
    deadline = time.monotonic() + timeout
    while not received.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([descriptor], [], [], left)[0]:
            raise LocalBackendError(f"The local test API did not start within {timeout:.0f} seconds.")
        chunk = os.read(descriptor, 65536)
        if not chunk:
            raise LocalBackendError(
                f"The local test API stopped as it started (exit code {child.wait()}); {SEE_LOG}"
            )
        received += chunk
    try:
        answer = json.loads(received)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise LocalBackendError(f"The local test API answered something unexpected; {SEE_LOG}")
    return answer


def _end(child: subprocess.Popen[bytes]) -> None:
    """Close the child's stdin (its signal to stop), wait for it, and kill it if it does not end."""
    try:
        if child.stdin is not None:
            child.stdin.close()
    except OSError:  # it is gone already
        pass
    try:
        child.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        log.warning("The local test API did not stop in time; it is ended")
        child.kill()
        child.wait()


def _stop(child: subprocess.Popen[bytes]) -> None:
    """End the child and close the app's end of its stdout (only its reader may: a read may be under way
    on another thread)."""
    _end(child)
    if child.stdout is not None:
        child.stdout.close()


# --- the child ---------------------------------------------------------------------------------------


def serve(log_folder: Path) -> int:
    """Run the local stack until stdin closes; 0 after a clean stop, 1 or 2 when it cannot start."""
    try:
        from backend.local import LocalStack  # only installed with the `local` extra
        from backend.local.datadir import default_data_dir
    except ImportError as error:
        return _answer({"missing": str(error)}, 2)
    from app.core.logs import setup_logging

    # Ctrl-C in a terminal reaches the whole process group: the app decides, and closes our stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup_logging(log_folder, level=logging.WARNING, filename=LOG_FILENAME)
    # Its own folder, kept across restarts: uploads and links survive.
    stack = LocalStack(port=None, data_dir=default_data_dir("local-api-app"))
    try:
        stack.start()
    except Exception as error:  # a taken port or data folder says so in a sentence; the rest is logged
        logging.getLogger(__name__).exception("The local test API cannot start")
        return _answer({"error": _for_the_app(error)}, 1)
    try:
        _answer({"api_url": stack.api_url, "cdn_base_url": stack.cdn_base_url, "token": stack.token}, 0)
        # Nobody reads our stdout any more: a later write must not fill the pipe and block.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        while sys.stdin.buffer.read(65536):  # nothing is sent: this waits for the app to close it
            pass
    finally:
        stack.stop()
    return 0


def _for_the_app(error: Exception) -> str:
    """Why the stack cannot start. Its own sentences name options of `python -m backend serve`, which the
    app does not have."""
    from backend.local.datadir import DataDirInUseError
    from backend.local.stack import PortInUseError

    if isinstance(error, DataDirInUseError):
        return (
            f"Another s3up started with --local is already running (its local test API uses {error.path}): "
            "quit it first."
        )
    if isinstance(error, PortInUseError):
        return (
            f"The local test API cannot listen on {error.address}: another program uses that port. Stop it, "
            "then start s3up --local again."
        )
    if isinstance(error, (OSError, RuntimeError)):  # the stack's own sentences
        return str(error)
    return f"The local test API could not start ({type(error).__name__}: {error}); {SEE_LOG}"


def _answer(answer: dict[str, str], code: int) -> int:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(serve(Path(sys.argv[1])))
