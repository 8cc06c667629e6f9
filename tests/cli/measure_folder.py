"""By hand, not in CI: `s3up upload FOLDER --json` with many small files against the local stack.

    PYTHONPATH=$PWD python tests/cli/measure_folder.py --files 10000 --size 1024
    PYTHONPATH=$PWD python tests/cli/measure_folder.py --files 10000 --app-root /tmp/old  # another `app/`

Measures, from the moment the `s3up` process is started: when the first byte of a file reaches S3
(the first PUT seen by a pass-through proxy in front of the stack's S3 server), when the first `--json`
line arrives on stdout (the first file done), when the last one does, and the command's peak RSS (its
own, as the kernel counts it for a child: the stack runs in this process). Every line must say "done".
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backend.local import LocalStack
from tests.fault_proxy import Fault, FaultProxy, Seen

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--files", type=int, default=10_000)
    options.add_argument("--size", type=int, default=1024, help="bytes per file")
    options.add_argument("--app-root", type=Path, default=ROOT, help="the tree whose `app` package runs")
    args = options.parse_args()

    with tempfile.TemporaryDirectory(prefix="s3up-measure-") as scratch:
        folder = Path(scratch) / "many"
        for index in range(args.files):
            sub = folder / f"d{index // 1000:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{index:05d}.bin").write_bytes(os.urandom(args.size))
        first_put: list[float] = []

        def note_put(seen: Seen) -> Fault:
            if seen.method == "PUT" and not first_put:
                first_put.append(time.monotonic())
            return Fault.PASS

        with FaultProxy(note_put) as proxy, LocalStack(port=0, presign_endpoint=proxy.url) as stack:
            proxy.upstream = stack.s3_endpoint
            env = {
                **os.environ,
                "S3UP_HOME": str(Path(scratch) / "home"),
                "PYTHONPATH": str(args.app_root.resolve()),
            }
            env.pop("S3UP_TOKEN", None)
            command = [sys.executable, "-m", "app.cli", "upload", str(folder), "--api", stack.api_url,
                       "--token", stack.token, "--key-prefix", "measure", "--json"]  # fmt: skip
            started = time.monotonic()
            errors = Path(scratch) / "stderr.txt"
            with errors.open("w") as error_file:
                process = subprocess.Popen(
                    command, env=env, stdout=subprocess.PIPE, stderr=error_file, text=True
                )
                lines = [(time.monotonic(), line) for line in process.stdout or ()]
                process.wait()
            ended = time.monotonic()
            err = errors.read_text()
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        states = [json.loads(line)["status"] for _, line in lines]
        print(f"files {args.files} x {args.size} B, exit {process.returncode}, {states.count('done')} done")
        if err.strip():
            print(f"stderr: {err.strip()[:500]}")
        print(f"first byte to S3     {first_put[0] - started:7.2f} s" if first_put else "no PUT seen")
        if lines:
            print(f"first JSON line      {lines[0][0] - started:7.2f} s")
            print(f"last JSON line       {lines[-1][0] - started:7.2f} s")
            gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(lines)]
            print(f"longest gap between lines {max(gaps, default=0):.2f} s")
        print(
            f"total                {ended - started:7.2f} s  ({args.files / (ended - started):.0f} files/s)"
        )
        print(f"peak RSS of s3up     {peak_kib / 1024:7.1f} MiB")


if __name__ == "__main__":
    main()
