"""The engine alone with many tiny files (run by hand, not in CI).

    PYTHONPATH=. python benchmarks/bench_many_files.py --files 10000

The local stack runs in a child process (`python -m backend serve --ephemeral`, started as
tests/cli/measure_folder.py starts it), as the API and S3 are
elsewhere in real use; the engine adds the folder in chunks of 1,000 through `add_many`, as the app does.
Prints when the last file was recorded and when all were done, the engine's CPU seconds, and how many
started uploads each pick of a job walked on average (the dispatcher's cost grows with that number).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import dispatcher
from app.core.engine import open_engine
from app.core.models import TransferSettings, UploadRequest, UploadState
from tests.cli.measure_folder import start_stack

CHUNK = 1000
METADATA = {"organizationId": "bench", "objectRecordId": "1"}


def count_picks(counts: dict[str, int]) -> None:
    """Wrap the dispatcher's `pick_job` to count picks and the started uploads each one walks."""
    real = dispatcher.pick_job

    def counting(started, waiting, slots, now):  # type: ignore[no-untyped-def]
        counts["picks"] += 1
        counts["walked"] += len(started)
        return real(started, waiting, slots, now)

    dispatcher.pick_job = counting  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=1024, help="bytes per file")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="s3up-bench-many-"))
    for index in range(args.files):
        (work / f"f{index:05}.bin").write_bytes(os.urandom(args.size))
    files = sorted(work.iterdir())
    counts = {"picks": 0, "walked": 0}
    count_picks(counts)
    token = "s3up_bench_" + secrets.token_urlsafe(32)
    stack, api_url = start_stack(token)
    try:
        with (
            tempfile.TemporaryDirectory() as journal_dir,
            open_engine(
                lambda _url: token, TransferSettings(), journal_path=Path(journal_dir) / "j.sqlite3"
            ) as engine,
        ):
            manager = engine.manager
            requests = [
                UploadRequest(path, api_url, f"many/{path.name}", METADATA, overwrite=True) for path in files
            ]
            began, cpu = time.perf_counter(), time.process_time()
            ids = []
            for start in range(0, len(requests), CHUNK):
                ids += [status.id for status in manager.add_many(requests[start : start + CHUNK]).added]
            recorded = time.perf_counter() - began
            while not manager.wait(ids, timeout=1):
                pass
            done = time.perf_counter() - began
            unfinished = [s for s in map(manager.status, ids) if s is None or s.state is not UploadState.DONE]
    finally:
        stack.terminate()
        stack.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{args.files:,} files of {args.size} bytes: recorded after {recorded:.1f} s, "
        f"done after {done:.1f} s "
        f"({args.files / done:.0f} files/s); engine CPU {time.process_time() - cpu:.1f} s; "
        f"{counts['picks']:,} picks walking {counts['walked'] / max(1, counts['picks']):.0f} started uploads "
        f"on average; {len(unfinished)} not done"
    )


if __name__ == "__main__":
    main()
