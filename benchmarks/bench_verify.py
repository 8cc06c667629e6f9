"""How fast a resume checks the parts sent before: re-read each part and compare its MD5 with the ETag.

python benchmarks/bench_verify.py --size-mib 1024 [--cold]

Writes a file of random bytes (in the current folder unless --dir), then times `steps.verify_part` over
all its 16 MiB parts on one thread and on two (the engine checks two parts at once). `--cold` drops the
page cache first (root only), as after a reboot; otherwise the file is read from memory.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.core.jobs import Job, JobKind
from app.core.journal import JournalPart, JournalUpload
from app.core.models import MIB, UploadState
from app.core.planner import plan_parts
from app.core.steps import verify_part
from app.core.transfer import PartStopper


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run (root)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = Path(folder) / "parts.bin"
        plan = plan_parts(args.size_mib * MIB)
        parts = write_file(path, plan)
        record = JournalUpload(
            id=1, api_url="http://x/prod", path=path, size=plan.size, mtime_ns=0, fingerprint="",
            key="k", metadata={}, content_type=None, part_size=plan.part_size, upload_id="u",
            state=UploadState.UPLOADING, message=None, url=None, link_verified=None, created_at=0.0,
            updated_at=0.0, finished_at=None, overwrite=False, accelerate=False, cdn_base_url=None,
        )  # fmt: skip
        for threads in (1, 2):
            if args.cold:
                os.sync()
                Path("/proc/sys/vm/drop_caches").write_text("3\n")
            started, cpu = time.perf_counter(), time.process_time()
            with ThreadPoolExecutor(threads) as pool:
                jobs = [
                    Job(JobKind.VERIFY, record, plan, 0, PartStopper(), part_number=n, known_parts=parts)
                    for n in parts
                ]
                assert all(result.matches for result in pool.map(verify_part, jobs))
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
            size = args.size_mib
            print(
                f"{threads} thread(s){' cold' if args.cold else ''}: {size / seconds:.0f} MiB/s, "
                f"{cpu_seconds / size * 1024:.2f} CPU s/GiB"
            )


def write_file(path: Path, plan: object) -> dict[int, JournalPart]:
    parts = {}
    with path.open("wb") as file:
        for part in plan.parts():  # type: ignore[attr-defined]
            data = os.urandom(part.length)
            file.write(data)
            parts[part.number] = JournalPart(part.number, f'"{hashlib.md5(data).hexdigest()}"', part.length)
    return parts


if __name__ == "__main__":
    main()
