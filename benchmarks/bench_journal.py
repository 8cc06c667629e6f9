"""The resume journal at 10,000 uploads: what adding, listing and updating them costs.

python benchmarks/bench_journal.py --uploads 10000 [--dir /some/disk]

Times, on a journal in `--dir` (a real disk by default: the current folder), the operations a folder of
that many files goes through: recording them (in the engine's groups of 100), each one's start (in
batches of 50), its state changes, a part each, its finish (in batches of 50), listing the unfinished
ones and the history, and restoring them all into a manager at the next start. Prints one line per
operation: the total and the cost per upload.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.adding import ADD_GROUP  # noqa: E402
from app.core.journal import FinishedUpload, Journal, NewUpload, StartedUpload  # noqa: E402
from app.core.manager import UploadManager  # noqa: E402
from app.core.models import UploadState  # noqa: E402

BATCH = 50


def timed(label: str, count: int, action: Callable[[], object]) -> None:
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    print(f"{label:<46} {seconds * 1000:9.0f} ms  {seconds / count * 1e6:8.1f} µs per upload")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    args = parser.parse_args()
    n = args.uploads
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        files = Path(folder) / "files"
        files.mkdir()
        path = files / "one.bin"
        path.write_bytes(b"x" * 10)
        new = [
            NewUpload(
                api_url="http://127.0.0.1:9/prod",
                path=path,
                size=10,
                mtime_ns=os.stat(path).st_mtime_ns,
                fingerprint="f" * 64,
                key=f"folder/{i:05}.bin",
                metadata={"organizationId": "o"},
                content_type=None,
                part_size=16 << 20,
                idempotency_key=f"{i:032x}",
            )
            for i in range(n)
        ]
        with Journal(Path(folder) / "journal.sqlite3") as journal:
            ids: list[int] = []

            def add() -> None:
                for start in range(0, n, ADD_GROUP):
                    ids.extend(u.id for u in journal.create_uploads(new[start : start + ADD_GROUP]))

            timed(f"add {n} (groups of {ADD_GROUP}, one flush each)", n, add)
            timed("list unfinished", n, journal.unfinished)

            def start() -> None:
                for s in range(0, n, BATCH):
                    journal.set_started_many(
                        [
                            StartedUpload(i, f"file-{i}", 16 << 20, None, single=True)
                            for i in ids[s : s + BATCH]
                        ]
                    )

            timed(f"record the starts (batches of {BATCH})", n, start)
            timed(
                "a state change each, not flushed (pause)",
                n,
                lambda: [journal.set_state(i, UploadState.PAUSED, durable=False) for i in ids],
            )
            timed(
                "a state change each, flushed (fail)",
                n,
                lambda: [journal.set_state(i, UploadState.FAILED, "x") for i in ids],
            )
            timed("a part each, flushed", n, lambda: [journal.record_part(i, 1, '"etag"', 10) for i in ids])

            def restore() -> None:
                manager = UploadManager(journal, lambda _url: None)
                try:
                    manager.restore()
                    manager.statuses()
                finally:
                    manager.shutdown()

            timed("restore all into a manager, then list them", n, restore)

            def finish() -> None:
                for s in range(0, n, BATCH):
                    journal.set_finished_many(
                        [FinishedUpload(i, "https://cdn/x", True) for i in ids[s : s + BATCH]]
                    )

            timed(f"record them finished (batches of {BATCH})", n, finish)
            timed("history (500 newest)", n, lambda: journal.history(500))
            print(f"journal file: {(Path(folder) / 'journal.sqlite3').stat().st_size / 1024 / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
