"""By hand, not in CI: `s3up upload FOLDER --json` with many small files against the local stack.

    PYTHONPATH=$PWD python tests/cli/measure_folder.py --files 10000 --size 1024
    PYTHONPATH=$PWD python tests/cli/measure_folder.py --files 10000 --app-root /tmp/old  # another `app/`

The stack runs as `python -m backend serve --ephemeral` (a process of its own), the command as another.
Measured from the moment `s3up` is started: when its first part PUT begins (the engine's `send_part`,
timed inside the command on the system's monotonic clock), when the last file is recorded in the journal
(the last `add_many` returns), when the first `--json` line arrives on
stdout (the first file done) and the last one, the longest wait between two lines, and the command's
own peak RSS (VmHWM) and CPU seconds. Every line must say "done".
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# `s3up` itself, with a clock on its first PUT and its own peak memory and CPU printed at exit.
COMMAND = """
import atexit, json, resource, sys, time
from app.core import worker
from app.core.manager import UploadManager
from app.cli import main

first_put, recorded = [], []
send_part, add_many = worker.send_part, UploadManager.add_many

def timed_add(self, requests):
    result = add_many(self, requests)
    recorded.append(time.monotonic())
    return result

def timed(*args, **kwargs):
    if not first_put:
        first_put.append(time.monotonic())
    return send_part(*args, **kwargs)

def report():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    status = open("/proc/self/status").read()
    peak = int(status.split("VmHWM:")[1].split()[0])
    print("MEASURED", json.dumps({"firstPut": first_put[0] if first_put else None,
          "allRecorded": recorded[-1] if recorded else None,
          "cpu": usage.ru_utime + usage.ru_stime, "peakKiB": peak}), file=sys.stderr)

worker.send_part, UploadManager.add_many = timed, timed_add
atexit.register(report)
sys.exit(main(sys.argv[1:]))
"""


def start_stack(token: str) -> tuple[subprocess.Popen[str], str]:
    stack = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve", "--ephemeral", "--port", "0", "--token", token],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    seen = []
    for line in stack.stdout or ():
        seen.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    match = re.search(r"API URL: +(\S+)", "".join(seen))
    if match is None:
        stack.kill()
        raise RuntimeError("the local stack did not start: " + "".join(seen))
    return stack, match.group(1)


def main() -> None:
    options = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
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
        token = "s3up_measure_" + secrets.token_urlsafe(32)
        stack, api_url = start_stack(token)
        try:
            env = {**os.environ, "S3UP_HOME": str(Path(scratch) / "home"), "PYTHONPATH": str(args.app_root)}
            env.pop("S3UP_TOKEN", None)
            errors = Path(scratch) / "stderr.txt"
            command = [sys.executable, "-c", COMMAND, "upload", str(folder), "--api", api_url,
                       "--token", token, "--key-prefix", "measure", "--json"]  # fmt: skip
            with errors.open("w") as error_file:
                started = time.monotonic()
                process = subprocess.Popen(
                    command, env=env, stdout=subprocess.PIPE, stderr=error_file, text=True
                )
                lines = [(time.monotonic(), line) for line in process.stdout or ()]
                process.wait()
            ended = time.monotonic()
        finally:
            stack.terminate()
            stack.wait(30)
        err = errors.read_text()
    measured = json.loads(err.split("MEASURED ", 1)[1]) if "MEASURED " in err else {}
    states = [json.loads(line)["status"] for _, line in lines]
    print(f"files {args.files} x {args.size} B, exit {process.returncode}, {states.count('done')} done")
    if err.strip() and not err.startswith("MEASURED"):
        print(f"stderr: {err.strip()[:500]}")
    if measured.get("firstPut"):
        print(f"first PUT begins     {measured['firstPut'] - started:7.2f} s")
    if measured.get("allRecorded"):
        print(f"all files recorded   {measured['allRecorded'] - started:7.2f} s")
    if lines:
        gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(lines)]
        print(f"first JSON line      {lines[0][0] - started:7.2f} s")
        print(f"last JSON line       {lines[-1][0] - started:7.2f} s")
        print(f"longest gap between lines {max(gaps, default=0):.2f} s")
    print(f"total                {ended - started:7.2f} s  ({args.files / (ended - started):.0f} files/s)")
    if measured:
        per_file = 1000 * measured["cpu"] / args.files
        print(f"s3up CPU             {measured['cpu']:7.2f} s  ({per_file:.2f} ms per file)")
        print(f"s3up peak RSS        {measured['peakKiB'] / 1024:7.1f} MiB")


if __name__ == "__main__":
    main()
