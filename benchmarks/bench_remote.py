"""Far from the region: a folder of small files, and one big file, through a proxy that delays every
request (and caps each connection's rate), with this engine's defaults against s3transfer's.

Run by hand (not in CI):

    python benchmarks/bench_remote.py folder --files 1000 --size-kib 256 --latency-ms 30 --rounds 3
    python benchmarks/bench_remote.py far --size-mib 256 --latency-ms 20 --rate-mib 4 --rounds 3

Everything runs on this machine: `rclone serve s3` (a real S3 server that checks SigV4), the local API
in front of it for the engine (its own calls to S3 go straight there, as in the region), and
`netproxy.NetProxy` (each in a process of its own) between each client and everything it talks to:
the API, S3 and the CDN for the engine; S3 for s3transfer (boto3's TransferManager with its default
TransferConfig, every file of the folder submitted at once, as `aws s3 cp --recursive` does). Each
client runs in its own process, so its CPU time and peak RSS are its own; the clients take turns, each
round starting with the next one, and the ratio is the median of each round's ratio. `--placement
split` gives the local API and the proxies one core, S3 and the client the other, as when the API runs
elsewhere (on Lambda); `shared` lets everything share both. `--api-kind core-only` runs the engine
against the existing deployment's routes instead (with its 3 s handler timeout); `--baseline DIR` adds
the engine of another checkout (e.g. the main branch) as a client, to compare versions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_upload import (  # noqa: E402
    ACCESS,
    SECRET,
    own_cpu_seconds,
    peak_rss_kib,
    pin_process,
    start_rclone,
)

KIB = 1024
MIB = 1024 * KIB


# --- the clients, each run in its own process ---------------------------------------------------------


def client_engine(args: argparse.Namespace) -> dict[str, float]:
    from app.core.engine import open_engine
    from app.core.models import TransferSettings, UploadRequest, UploadState

    files = sorted(Path(args.source).iterdir()) if Path(args.source).is_dir() else [Path(args.source)]
    metadata = {"organizationId": "bench", "objectRecordId": "1"}
    connections = args.connections or None
    peak = [0]
    with tempfile.TemporaryDirectory() as tmp:
        settings = TransferSettings(max_connections=connections)
        with open_engine(lambda _url: args.token, settings, journal_path=Path(tmp) / "j.sqlite3") as engine:
            manager = engine.manager
            requests = [
                UploadRequest(
                    path=path,
                    api_url=args.api,
                    key=f"{args.prefix}/{path.name}",
                    metadata=metadata,
                    overwrite=True,
                    cdn_base_url=args.cdn,
                )
                for path in files
            ]
            result = manager.add_many(requests)
            if result.refused:
                raise RuntimeError(result.refused[0][1].message)
            ids = [status.id for status in result.added]
            while not manager.wait(ids, timeout=0.5):
                peak[0] = max(peak[0], engine.manager._dispatcher.limit.value)
            statuses = [manager.status(upload_ref) for upload_ref in ids]
            bad = [s for s in statuses if s is None or s.state is not UploadState.DONE]
            if bad:
                raise RuntimeError(f"{len(bad)} files did not finish: {bad[0]}")
            verified = sum(1 for s in statuses if s and s.link_verified)
    return {"files": len(files), "connections": peak[0], "verified": verified}


def client_s3transfer(args: argparse.Namespace) -> dict[str, float]:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from s3transfer.manager import TransferManager

    files = sorted(Path(args.source).iterdir()) if Path(args.source).is_dir() else [Path(args.source)]
    config = TransferConfig()  # its defaults: 10 threads, 8 MiB parts above 8 MiB
    client = boto3.client(
        "s3",
        endpoint_url=args.s3,
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    with TransferManager(client, config) as manager:
        futures = [manager.upload(str(path), args.bucket, f"{args.prefix}/{path.name}") for path in files]
        for future in futures:
            future.result()
    return {"files": len(files), "connections": config.max_request_concurrency}


def client_baseline(args: argparse.Namespace) -> dict[str, float]:
    """The engine of another checkout (`--baseline`), with its defaults, adding the files as its app did."""
    sys.path.insert(0, args.baseline)
    for name in [m for m in sys.modules if m == "app" or m.startswith("app.")]:
        del sys.modules[name]
    from app.core.journal import Journal  # the other checkout's
    from app.core.manager import UploadManager
    from app.core.models import TransferSettings, UploadRequest, UploadState

    files = sorted(Path(args.source).iterdir()) if Path(args.source).is_dir() else [Path(args.source)]
    with tempfile.TemporaryDirectory() as tmp, Journal(Path(tmp) / "j.sqlite3") as journal:
        manager = UploadManager(journal, lambda _url: args.token, TransferSettings())
        try:
            metadata = {"organizationId": "bench", "objectRecordId": "1"}
            requests = [
                UploadRequest(
                    path,
                    args.api,
                    f"{args.prefix}/{path.name}",
                    metadata,
                    overwrite=True,
                    cdn_base_url=args.cdn,
                )
                for path in files
            ]
            if hasattr(manager, "add_many"):  # as that checkout's app adds a folder
                added = manager.add_many(requests)
                if added.refused:
                    raise added.refused[0][1]
                ids = [status.id for status in added.added]
            else:  # checkouts from before the folder work add one file after the other
                ids = [manager.add(request).id for request in requests]
            manager.wait(ids)
            bad = [s for s in map(manager.status, ids) if s is None or s.state is not UploadState.DONE]
            if bad:
                raise RuntimeError(f"{len(bad)} files did not finish: {bad[0]}")
        finally:
            manager.shutdown()
    return {"files": len(files), "connections": 8}


CLIENTS = {"engine": client_engine, "s3transfer": client_s3transfer, "baseline": client_baseline}


def run_client(args: argparse.Namespace) -> None:
    if args.cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.cpus.split(",")})  # before any thread starts
    started = time.perf_counter()
    extra = CLIENTS[args.client](args)
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {"seconds": elapsed, "cpu": usage.ru_utime + usage.ru_stime, "rss_kib": peak_rss_kib(), **extra}
        )
    )


# --- the orchestrator ---------------------------------------------------------------------------------


def measure(client: str, common: list[str], cpus: set[int] | None) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if cpus is not None:
        common = [*common, "--cpus", ",".join(map(str, sorted(cpus)))]
    profile = os.environ.get("BENCH_PROFILE")  # a folder: py-spy's collapsed stacks of each client go there
    command = [sys.executable, __file__, "client", "--client", client, *common]
    if profile:
        out = Path(profile) / f"{client}-{time.time():.0f}.txt"
        command = ["py-spy", "record", "--gil", "-r", "200", "-f", "raw", "-o", str(out), "--", *command]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{client} failed:\n{result.stderr[-3000:]}")
    return json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])


def make_source(work: Path, args: argparse.Namespace) -> tuple[Path, int, int]:
    """The folder (or the one file) to send; its number of files and bytes."""
    if args.scenario == "folder":
        folder = work / "folder"
        folder.mkdir()
        for index in range(args.files):
            (folder / f"file-{index:05}.bin").write_bytes(os.urandom(args.size_kib * KIB))
        return folder, args.files, args.files * args.size_kib * KIB
    path = work / "big.bin"
    with path.open("wb") as file:
        for _ in range(args.size_mib):
            file.write(os.urandom(MIB))
    return path, 1, args.size_mib * MIB


class ProxyProcess:
    """`netproxy.NetProxy` in a process of its own (its event loop shares no GIL with the local API)."""

    def __init__(self, upstream: str, latency: float, rate: float | None, cpus: set[int] | None) -> None:
        target = urlsplit(upstream)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.netproxy", target.hostname or "127.0.0.1", str(target.port),
             "--latency", str(latency), "--rate", str(rate or 0)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )  # fmt: skip
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"
        if cpus is not None:
            pin_process(self.process.pid, cpus)

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


def process_cpu_seconds(pid: int) -> float:
    """Another process's CPU time so far (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def through(proxy: ProxyProcess, url: str) -> str:
    """`url` with the proxy's address in place of its own."""
    return f"{proxy.url}{urlsplit(url).path}"


def orchestrate(args: argparse.Namespace) -> None:
    from backend.local import LocalStack

    work = Path(tempfile.mkdtemp(prefix="s3up-bench-", dir="/dev/shm" if Path("/dev/shm").exists() else None))
    (work / "s3" / "bench").mkdir(parents=True)
    source, count, size = make_source(work, args)
    rclone, s3_endpoint = start_rclone(work / "s3", "")
    client_cpus = api_cpus = None
    if args.placement == "split":  # the API (and the proxies) on one core; S3 and the client on the other
        cpus = sorted(os.sched_getaffinity(0))
        api_cpus, client_cpus = set(cpus[: len(cpus) // 2]), set(cpus[len(cpus) // 2 :])
        pin_process(os.getpid(), api_cpus)
        pin_process(rclone.pid, client_cpus)
    rate = args.rate_mib * MIB if args.rate_mib else None
    latency = args.latency_ms / 1000
    clients = ["engine", "s3transfer"] + (["baseline"] if args.baseline else [])
    results: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
    try:
        with (
            ProxyProcess(s3_endpoint, latency, rate, api_cpus) as s3_proxy,
            LocalStack(
                s3_endpoint=s3_endpoint,
                bucket="bench",
                s3_credentials=(ACCESS, SECRET),
                url_expiry=3600,
                presign_endpoint=s3_proxy.url,
                core_only=args.api_kind == "core-only",
                function_timeout=3.0 if args.api_kind == "core-only" else None,
            ) as stack,
            ProxyProcess(stack.api_url, latency, None, api_cpus) as api_proxy,
        ):
            common = [
                "--source", str(source), "--api", through(api_proxy, stack.api_url),
                "--cdn", through(api_proxy, stack.cdn_base_url), "--token", stack.token,
                "--s3", s3_proxy.url, "--bucket", "bench", "--connections", str(args.connections),
                "--baseline", args.baseline or "",
            ]  # fmt: skip
            for round_number in range(args.rounds):
                shift = round_number % len(clients)
                for name in clients[shift:] + clients[:shift]:
                    prefix = f"{args.scenario}-{name}-{round_number}"
                    servers = (rclone.pid, s3_proxy.process.pid, api_proxy.process.pid)
                    api_cpu, server_cpu = own_cpu_seconds(), [process_cpu_seconds(pid) for pid in servers]
                    sample = measure(name, [*common, "--prefix", prefix], client_cpus)
                    sample["api_cpu"] = own_cpu_seconds() - api_cpu
                    sample["s3_cpu"], sample["proxy_cpu"] = (
                        process_cpu_seconds(servers[0]) - server_cpu[0],
                        sum(process_cpu_seconds(pid) for pid in servers[1:]) - sum(server_cpu[1:]),
                    )
                    results[name].append(sample)
                    report_round(round_number, name, sample, count, size)
                    shutil.rmtree(work / "s3" / "bench" / prefix, ignore_errors=True)
    finally:
        rclone.terminate()
        rclone.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print_table(args, count, size, results)


def report_round(round_number: int, name: str, sample: dict[str, float], count: int, size: int) -> None:
    seconds, rss = sample["seconds"], sample["rss_kib"] / 1024
    print(
        f"round {round_number + 1} {name:<11} {count / seconds:7.1f} files/s {size / MIB / seconds:7.1f} "
        f"MiB/s  cpu {sample['cpu']:.2f} s  rss {rss:.0f} MiB  connections {sample['connections']}  "
        f"api {sample['api_cpu']:.2f} s  s3 {sample['s3_cpu']:.2f} s  proxies {sample['proxy_cpu']:.2f} s",
        file=sys.stderr,
    )


def print_table(
    args: argparse.Namespace, count: int, size: int, results: dict[str, list[dict[str, float]]]
) -> None:
    what = (
        f"{count} files of {args.size_kib} KiB"
        if args.scenario == "folder"
        else f"one {args.size_mib} MiB file"
    )
    cap = f", each connection capped at {args.rate_mib} MiB/s" if args.rate_mib else ""
    print(
        f"\n{what}, +{args.latency_ms} ms per request{cap}, API {args.api_kind}, "
        f"{args.placement} CPUs, {args.rounds} rounds\n"
    )
    columns = [
        "files/s", "MiB/s", "× s3transfer", "client CPU s", "peak RSS MiB", "connections", "API CPU s",
        "S3 CPU s", "proxies' CPU s",
    ]  # fmt: skip
    print("| client | " + " | ".join(columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    reference = results["s3transfer"]
    for name, samples in results.items():
        seconds = statistics.median(s["seconds"] for s in samples)
        ratio = statistics.median(
            ref["seconds"] / own["seconds"] for own, ref in zip(samples, reference, strict=True)
        )
        cells = [
            f"{count / seconds:.1f}",
            f"{size / MIB / seconds:.1f}",
            f"{ratio:.2f}",
            f"{statistics.median(s['cpu'] for s in samples):.2f}",
            f"{statistics.median(s['rss_kib'] for s in samples) / 1024:.0f}",
            f"{max(s['connections'] for s in samples):.0f}",
            f"{statistics.median(s['api_cpu'] for s in samples):.2f}",
            f"{statistics.median(s['s3_cpu'] for s in samples):.2f}",
            f"{statistics.median(s['proxy_cpu'] for s in samples):.2f}",
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=["folder", "far", "client"])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size-kib", type=int, default=256)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--latency-ms", type=float, default=30)
    parser.add_argument("--rate-mib", type=float, default=0, help="per-connection cap, MiB/s (0: none)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--api-kind", choices=["extended", "core-only"], default="extended")
    parser.add_argument(
        "--connections", type=int, default=0, help="fix the engine's connections (0: automatic)"
    )
    parser.add_argument("--baseline", default="", help="another checkout whose engine runs as a third client")
    parser.add_argument(
        "--placement",
        choices=["shared", "split"],
        default="shared",
        help="split: the API and the proxies get one core, S3 and the client the other (as when the API "
        "runs elsewhere, on Lambda)",
    )
    parser.add_argument("--cpus", help=argparse.SUPPRESS)
    # a client's own arguments
    parser.add_argument("--client", choices=sorted(CLIENTS))
    for name in ("--source", "--api", "--cdn", "--token", "--s3", "--bucket", "--prefix"):
        parser.add_argument(name)
    args = parser.parse_args()
    if args.scenario == "client":
        run_client(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
