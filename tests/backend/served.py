"""`python -m backend serve` as a subprocess, for the tests of the command and of its data folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Served:
    """A `python -m backend serve` subprocess and what it printed (every wait bounded)."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # serve needs no credentials
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.ready = threading.Event()
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.lines, True)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.errors, False)),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: object, into: list[str], watch: bool) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)
            if watch and line.startswith("Press Ctrl-C"):
                self.ready.set()
        self.ready.set()  # the process ended: stop waiting

    def printed(self, label: str) -> str:
        assert self.ready.wait(60), "".join(self.lines + self.errors)
        match = re.search(rf"{label}: +(\S+)", "".join(self.lines))
        assert match, "".join(self.lines + self.errors)
        return match.group(1)

    def exit_code(self, timeout: float = 30) -> int:
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for reader in self._readers:
            reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()  # type: ignore[union-attr]
