"""The upload API alone: calls per file and the local stack's CPU per file, per-file vs batch routes.

    python benchmarks/bench_api.py                       # 10, 1,000 and 10,000 files, both kinds
    python benchmarks/bench_api.py --files 10 1000 --kinds per-file --profile

Each row starts a fresh `python -m backend serve --ephemeral` (the API, its SQLite tables and
its embedded S3 server, in one process), sends N small files (1 KiB) through it with 8 client
threads, and reads the server process's CPU time (user + system, its children included) before
the first request and after the last: stack CPU per file is that difference over N. Per-file
routes: `/initialize`, `/getPreSignedUrls`, one PUT, `/finalize` per file. Batch routes (when
`/session` lists `batch`): `/initializeBatch` and `/finalizeBatch` for 100 files a call, each
file one presigned PUT. `--profile` samples the server with py-spy and prints where its CPU went.
Run by hand, not in CI; the machine's other work shows in absolute times, less in CPU seconds.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
BATCH = 100
CLIENTS = 8
BODY = b"x" * 1024


@dataclass
class Counter:
    api: int = 0
    s3: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, api: int = 0, s3: int = 0) -> None:
        with self.lock:
            self.api += api
            self.s3 += s3


class Stack:
    """`python -m backend serve --ephemeral` on a free port."""

    def __init__(self) -> None:
        self.token = "s3up_bench_" + secrets.token_urlsafe(32)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", "--ephemeral", "--port", "0", "--token", self.token],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lines = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(lines)
        match = re.search(r"API URL: +(\S+)", text)
        if match is None:
            raise RuntimeError(f"serve did not start: {text}")
        self.api_url = match.group(1)
        self.startup = float(re.search(r"started in ([\d.]+) s", text).group(1))  # type: ignore[union-attr]
        self.ps = psutil.Process(self.process.pid)
        self.peak_rss = 0
        self._watching = True
        self._watcher = threading.Thread(target=self._watch_memory, daemon=True)
        self._watcher.start()

    def _watch_memory(self) -> None:
        while self._watching:
            try:
                self.peak_rss = max(self.peak_rss, self.ps.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        total = times.user + times.system
        for child in self.ps.children(recursive=True):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
        return total

    def capabilities(self) -> list[str]:
        answer = requests.post(
            f"{self.api_url}/session", json={}, headers={"Authorization": self.token}, timeout=30
        )
        answer.raise_for_status()
        return list(answer.json().get("capabilities", []))

    def stop(self) -> None:
        self._watching = False
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


_local = threading.local()


def _http() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def _post(stack: Stack, route: str, body: dict[str, Any], counter: Counter) -> dict[str, Any]:
    answer = _http().post(
        f"{stack.api_url}{route}", json=body, headers={"Authorization": stack.token}, timeout=120
    )
    counter.add(api=1)
    if answer.status_code != 200:
        raise RuntimeError(f"{route} answered {answer.status_code}: {answer.text[:300]}")
    return answer.json()


def _put(url: str, headers: dict[str, str], counter: Counter) -> str:
    answer = _http().put(url, data=BODY, headers=headers, timeout=120)
    counter.add(s3=1)
    if answer.status_code != 200:
        raise RuntimeError(f"PUT answered {answer.status_code}: {answer.text[:300]}")
    return answer.headers["ETag"]


def _payload(run: str, index: int) -> dict[str, Any]:
    key = f"bench/{run}/{index:06d}.bin"
    return {
        "plugin": "upload-s3",
        "pluginPayload": {"organizationId": "org-7", "objectRecordId": f"rec-{index}", "imageKey": key},
        "fileSize": len(BODY),
        "contentType": "application/octet-stream",
    }


def per_file(stack: Stack, run: str, index: int, counter: Counter) -> None:
    started = _post(stack, "/initialize", _payload(run, index), counter)
    ids = {"fileId": started["fileId"], "fileKey": started["fileKey"]}
    url = _post(stack, "/getPreSignedUrls", {**ids, "parts": 1}, counter)["parts"][0]["signedUrl"]
    etag = _put(url, {}, counter)
    _post(stack, "/finalize", {**ids, "parts": [{"PartNumber": 1, "ETag": etag}]}, counter)


def batch(stack: Stack, run: str, first: int, count: int, counter: Counter) -> None:
    files = [
        {**_payload(run, i), "clientToken": f"bench-{run}-{i:08d}", "single": True}
        for i in range(first, first + count)
    ]
    started = _post(stack, "/initializeBatch", {"files": files}, counter)["files"]
    finished = []
    for entry in started:
        if "error" in entry:
            raise RuntimeError(f"initializeBatch refused a file: {entry['error']}")
        _put(entry["putUrl"], entry.get("headers", {}), counter)
        finished.append({"fileId": entry["fileId"], "fileKey": entry["fileKey"]})
    answers = _post(stack, "/finalizeBatch", {"files": finished}, counter)["files"]
    refused = [entry for entry in answers if "error" in entry]
    if refused:
        raise RuntimeError(f"finalizeBatch refused {len(refused)} files: {refused[0]}")


def run_one(kind: str, files: int, profile: bool) -> dict[str, Any]:
    stack = Stack()
    spy = None
    try:
        if kind == "batch" and "batch" not in stack.capabilities():
            return {"kind": kind, "files": files, "skipped": "this API has no batch routes"}
        counter = Counter()
        run = secrets.token_hex(4)
        if profile:
            spy_out = Path(tempfile.mkdtemp()) / "spy.txt"
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "-p",
                    str(stack.process.pid),
                    "-f",
                    "raw",
                    "-r",
                    "100",
                    "-o",
                    str(spy_out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        before, began = stack.cpu(), time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            if kind == "per-file":
                jobs = [pool.submit(per_file, stack, run, i, counter) for i in range(files)]
            else:
                jobs = [
                    pool.submit(batch, stack, run, first, min(BATCH, files - first), counter)
                    for first in range(0, files, BATCH)
                ]
            for job in jobs:
                job.result()
        elapsed, used = time.perf_counter() - began, stack.cpu() - before
        row = {
            "kind": kind,
            "files": files,
            "api_calls_per_file": counter.api / files,
            "s3_requests_per_file": counter.s3 / files,
            "stack_cpu_ms_per_file": used / files * 1000,
            "files_per_s": files / elapsed,
            "startup_s": stack.startup,
            "peak_rss_mib": stack.peak_rss / 2**20,
        }
        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)
            row["profile"] = categorise(spy_out)
            shutil.rmtree(spy_out.parent, ignore_errors=True)
        return row
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        stack.stop()


# Where a sampled stack spent its time: the first category whose marker is in the stack wins.
CATEGORIES = [
    ("tables (SQLite)", ("backend/stores/sqlite", "sqlite3")),
    ("S3 server: storage", ("backend/local/s3/store",)),
    ("S3 server: SigV4 and requests", ("backend/local/s3/",)),
    ("handlers' boto3 S3 client", ("botocore", "boto3", "urllib3")),
    ("handlers", ("backend/handlers", "backend/access", "backend/apigw", "backend/files", "backend/keys")),
    ("gateway and authorizer", ("backend/local/gateway", "backend/local/policy", "backend/local/events")),
    ("HTTP servers (http.server)", ("http/server", "socketserver", "backend/local/server", "httpbase")),
]
IDLE = ("select (selectors", "wait (threading", "accept (socket", "serve_forever", "_wait_for_tstate_lock")


def categorise(raw: Path) -> dict[str, float]:
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit() or (any(mark in stack for mark in IDLE) and "backend/" not in stack):
            continue
        category = next((name for name, marks in CATEGORIES if any(m in stack for m in marks)), "other")
        counts[category] += int(number)
    total = sum(counts.values()) or 1
    return {name: round(100 * count / total, 1) for name, count in counts.most_common()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--kinds", nargs="+", default=["per-file", "batch"], choices=["per-file", "batch"])
    parser.add_argument(
        "--profile", action="store_true", help="sample the server with py-spy (must be installed)"
    )
    args = parser.parse_args()
    print(
        "| routes | files | API calls per file | S3 requests per file | stack CPU ms per file | files/s "
        "| start-up s | peak RSS MiB |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for files in args.files:
        for kind in args.kinds:
            row = run_one(kind, files, args.profile)
            if "skipped" in row:
                print(f"| {kind} | {files:,} | {row['skipped']} | | | | | |", flush=True)
                continue
            print(
                f"| {kind} | {files:,} | {row['api_calls_per_file']:.2f} | "
                f"{row['s3_requests_per_file']:.2f} | "
                f"{row['stack_cpu_ms_per_file']:.2f} | {row['files_per_s']:.0f} | {row['startup_s']:.2f} | "
                f"{row['peak_rss_mib']:.0f} |",
                flush=True,
            )
            if "profile" in row:
                print("    where the stack's CPU went:", row["profile"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
