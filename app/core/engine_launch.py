"""How the app starts its engine process, and how that process finds its way to `engine_host`.

On POSIX the engine is a plain child process of the app's own program (`python -m app --engine-process
FD`, or the packaged executable with the same flag), joined to the app by a socket pair. multiprocessing's
spawn would also start its resource tracker, a third process of 15 MiB (31 MiB in the packaged app) that
this engine never needs, and would import the app's main script again in the engine. Elsewhere (Windows)
multiprocessing's spawn is used; it starts no tracker there.

Either way the engine's first message on the pipe is its `EngineArguments`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from app.core.models import TransferSettings

ENGINE_FLAG = "--engine-process"  # `python -m app --engine-process FD`: be the app's engine
APP_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the `app` package


@dataclass(frozen=True)
class EngineArguments:
    settings: TransferSettings
    journal_path: Path | None
    log_folder: Path | None


class LaunchedEngine:
    """A started engine process: `subprocess.Popen` on POSIX, `multiprocessing.Process` elsewhere."""

    def __init__(self, process: subprocess.Popen[bytes] | multiprocessing.process.BaseProcess) -> None:
        self._process = process

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def exit_code(self) -> int | None:
        if isinstance(self._process, subprocess.Popen):
            return self._process.poll()
        return self._process.exitcode

    def end(self, grace: float) -> None:
        """Wait up to `grace` seconds for the process to end by itself, then kill it; reap it either way."""
        if isinstance(self._process, subprocess.Popen):
            try:
                self._process.wait(grace)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            return
        self._process.join(grace)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def launch_engine(arguments: EngineArguments) -> tuple[LaunchedEngine, Connection]:
    """Start an engine process and hand it its arguments; returns it and the app's end of its pipe."""
    if os.name == "posix":
        ours, theirs = socket.socketpair()
        try:
            with theirs:
                process = subprocess.Popen(
                    [*_program(), ENGINE_FLAG, str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                    env=child_environment(),
                )
        except BaseException:
            ours.close()
            raise
        connection = Connection(ours.detach())
        launched = LaunchedEngine(process)
    else:
        context = multiprocessing.get_context("spawn")  # never fork: the app has Qt and threads running
        connection, child_end = context.Pipe(duplex=True)
        spawned = context.Process(target=serve, args=(child_end,), name="s3up-engine", daemon=True)
        spawned.start()
        child_end.close()
        launched = LaunchedEngine(spawned)
    try:
        connection.send(arguments)
    except BaseException:
        connection.close()
        launched.end(0.0)
        raise
    return launched, connection


def _program() -> list[str]:
    """How to run the app's own program: the packaged executable, or this Python with `-m app`."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-P", "-m", "app"]  # -P: never an `app` in the current folder


def child_environment() -> dict[str, str]:
    """The app's environment, with the `app` package importable however the app itself found it (for a
    child started as `python -P -m app…`)."""
    environment = dict(os.environ)
    if not getattr(sys, "frozen", False):
        paths = [str(APP_ROOT), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
        environment["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return environment


def serve_descriptor(descriptor: int) -> None:
    """The engine process's entry on POSIX (`ENGINE_FLAG FD`): serve the app over the inherited socket."""
    serve(Connection(descriptor))


def serve(connection: Connection) -> None:
    """Read the engine's arguments and run it until the app stops it or goes away."""
    from app.core.engine_host import host_engine  # the engine itself, only in the engine's process

    # Ctrl-C in a terminal reaches the whole process group: the app decides, and the engine stops when
    # the app's end of the pipe closes, as at any quit (nothing is lost half-written).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    arguments = connection.recv()
    host_engine(connection, arguments.settings, arguments.journal_path, arguments.log_folder)
