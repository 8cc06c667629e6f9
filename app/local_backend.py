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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.core.engine_launch import child_environment

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # the first start creates the data folder and the bucket
STOP_GRACE = 10.0  # for the stack to close its servers and stores, before the process is killed
MAX_RESTARTS = 3  # deaths within RESTART_WINDOW seconds that are followed by a new child
RESTART_WINDOW = 300.0
LOG_FILENAME = "s3up-local-api.log"  # beside the app's own log
NEEDS_PACKAGES = "--local needs the local test API's packages: pip install -e '.[local]'"


@dataclass(frozen=True)
class LocalApi:
    """An API the app started (the local test stack): signed in to it with a token kept in memory."""

    api_url: str
    cdn_base_url: str
    token: str


class LocalBackendError(Exception):
    """The local test API cannot start; `message` is a sentence for the user."""

    def __init__(self, message: str, *, missing_packages: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing_packages = missing_packages


@contextmanager
def local_backend(log_folder: Path, *, timeout: float = START_TIMEOUT) -> Iterator[LocalApi]:
    """Start the local stack in a child process and yield its address; stop it on the way out.

    Raises LocalBackendError when it cannot start (a taken port, an unusable data folder, missing
    packages, or no answer within `timeout` seconds)."""
    backend = LocalBackend(log_folder, timeout=timeout)
    try:
        yield backend.api
    finally:
        backend.stop()


class LocalBackend:
    """The local stack's child process. When it dies, a new one starts on the same data folder, so it
    answers at the same address with the same token, and the engine's retries find it again; after
    `MAX_RESTARTS` deaths within `RESTART_WINDOW` seconds it stays stopped (the log says so)."""

    def __init__(self, log_folder: Path, *, timeout: float = START_TIMEOUT) -> None:
        self._log_folder = log_folder
        self._timeout = timeout
        self._lock = threading.Lock()
        self._stopping = False
        self._deaths: deque[float] = deque()
        self._child, self.api = self._start()
        self._watcher = threading.Thread(target=self._watch, name="s3up-local-api-watch", daemon=True)
        self._watcher.start()

    @property
    def pid(self) -> int:
        with self._lock:
            return self._child.pid

    def stop(self) -> None:
        """Stop the child (and any restart under way). Idempotent."""
        with self._lock:
            self._stopping = True
            child = self._child
        _stop(child)
        self._watcher.join(self._timeout + STOP_GRACE)

    def _start(self) -> tuple[subprocess.Popen[bytes], LocalApi]:
        child = subprocess.Popen(
            [sys.executable, "-P", "-m", "app.local_backend", str(self._log_folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_environment(),
        )
        try:
            answer = _first_line(child, self._timeout)
            if "error" in answer or "missing" in answer:
                raise LocalBackendError(
                    answer.get("error") or f"{NEEDS_PACKAGES} ({answer['missing']}).",
                    missing_packages="missing" in answer,
                )
        except BaseException:
            _stop(child)
            raise
        return child, LocalApi(answer["api_url"], answer["cdn_base_url"], answer["token"])

    def _watch(self) -> None:
        """Wait for the child to end; unless it was stopped, start a new one."""
        while True:
            with self._lock:
                child = self._child
            child.wait()
            with self._lock:
                if self._stopping:
                    return
            _stop(child)  # closes its pipes
            log.error("The local test API ended unexpectedly (exit code %s)", child.returncode)
            now = time.monotonic()
            while self._deaths and now - self._deaths[0] > RESTART_WINDOW:
                self._deaths.popleft()
            self._deaths.append(now)
            if len(self._deaths) > MAX_RESTARTS:
                log.error("The local test API is not started again: it ended %s times", len(self._deaths))
                return
            try:
                new_child, api = self._start()
            except LocalBackendError as error:
                log.error("The local test API could not be started again: %s", error.message)
                return
            if api != self.api:
                log.error("The local test API came back at %s instead of %s", api.api_url, self.api.api_url)
            with self._lock:
                if self._stopping:
                    _stop(new_child)
                    return
                self._child = new_child
            log.warning("The local test API was started again (process %s)", new_child.pid)


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
                f"The local test API stopped as it started (exit code {child.wait()}); the log folder "
                "has the details."
            )
        received += chunk
    return dict(json.loads(received))


def _stop(child: subprocess.Popen[bytes]) -> None:
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
    except (OSError, RuntimeError) as error:  # a taken port or data folder, said in a sentence
        logging.getLogger(__name__).error("The local test API cannot start: %s", error)
        return _answer({"error": _for_the_app(error)}, 1)
    try:
        _answer({"api_url": stack.api_url, "cdn_base_url": stack.cdn_base_url, "token": stack.token}, 0)
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
    return str(error)


def _answer(answer: dict[str, str], code: int) -> int:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(serve(Path(sys.argv[1])))
