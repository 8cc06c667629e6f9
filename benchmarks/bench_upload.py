"""Upload throughput, client CPU and client memory: this engine vs boto3's s3transfer vs one presigned PUT.

Run by hand (not in CI):  python benchmarks/bench_upload.py --size-mib 1024 --rounds 3

Everything runs on this machine: `rclone serve s3` (a real S3 server that checks SigV4) on /dev/shm, the
local API in front of it for the engine, and each client in its own subprocess so that its CPU time and
peak RSS are its own. Medians over the rounds are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ACCESS, SECRET = "benchkey", "benchsecret"
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_rclone(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            "rclone",
            "serve",
            "s3",
            "--addr",
            f"127.0.0.1:{port}",
            "--auth-key",
            f"{ACCESS},{SECRET}",
            "--vfs-cache-mode",
            "off",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("rclone serve s3 did not start")


# --- the clients, each run in its own process ---------------------------------------------------------


_last_byte_sent: list[float] = []  # when a client had sent every byte (before completing the upload)


def _mark_last_byte() -> None:
    if not _last_byte_sent:
        _last_byte_sent.append(time.perf_counter())


def client_engine(args: argparse.Namespace) -> None:
    from app.core.journal import Journal
    from app.core.manager import UploadManager
    from app.core.models import TransferSettings, UploadRequest, UploadState

    with tempfile.TemporaryDirectory() as tmp, Journal(Path(tmp) / "j.sqlite3") as journal:
        settings = TransferSettings(
            max_connections=args.concurrency,
            per_file_connections=args.concurrency,
            part_size=args.part_mib * MIB,
        )
        manager = UploadManager(journal, lambda _url: args.token, settings)
        manager.subscribe(lambda status: status.state is UploadState.FINALIZING and _mark_last_byte())
        try:
            status = manager.add(
                UploadRequest(
                    path=Path(args.file),
                    api_url=args.api,
                    key=args.key,
                    metadata={"organizationId": "bench", "objectRecordId": "1"},
                    overwrite=True,
                )
            )
            manager.wait([status.id])
            final = manager.status(status.id)
            if final is None or final.state is not UploadState.DONE:
                raise RuntimeError(f"the engine did not finish: {final}")
        finally:
            manager.shutdown()


def _s3_client(endpoint: str, checksums: bool = False):  # type: ignore[no-untyped-def]
    """A boto3 client on the rclone server; `checksums` keeps boto3's default CRC32 on every part."""
    import boto3
    from botocore.config import Config

    when = "when_supported" if checksums else "when_required"
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            request_checksum_calculation=when,
            response_checksum_validation=when,
            max_pool_connections=max(10, args_concurrency()),
        ),
    )


def args_concurrency() -> int:
    return int(os.environ.get("BENCH_CONCURRENCY", "8"))


def client_s3transfer(args: argparse.Namespace, checksums: bool = False) -> None:
    from boto3.s3.transfer import TransferConfig

    client = _s3_client(args.s3, checksums)
    config = TransferConfig(
        multipart_threshold=args.part_mib * MIB,
        multipart_chunksize=args.part_mib * MIB,
        max_concurrency=args.concurrency,
        use_threads=True,
    )
    size, sent = os.path.getsize(args.file), [0]

    def progress(amount: int) -> None:
        sent[0] += amount
        if sent[0] >= size:
            _mark_last_byte()

    client.upload_file(args.file, args.bucket, args.key, Config=config, Callback=progress)


def client_single_put(args: argparse.Namespace) -> None:
    import http.client
    from urllib.parse import urlsplit

    url = _s3_client(args.s3).generate_presigned_url(
        "put_object", Params={"Bucket": args.bucket, "Key": args.key}, ExpiresIn=3600
    )
    target = urlsplit(url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=600, blocksize=1024 * 1024)
    size = os.path.getsize(args.file)
    with open(args.file, "rb") as file:
        connection.request(
            "PUT", f"{target.path}?{target.query}", body=file, headers={"Content-Length": str(size)}
        )
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status


def client_s3transfer_checked(args: argparse.Namespace) -> None:
    """s3transfer with boto3's CRC32, then one HEAD of the object (the check the engine makes)."""
    client_s3transfer(args, checksums=True)
    _s3_client(args.s3).head_object(Bucket=args.bucket, Key=args.key)


CLIENTS = {
    "engine": client_engine,
    "s3transfer": client_s3transfer,
    "s3transfer-crc32": lambda args: client_s3transfer(args, checksums=True),
    "s3transfer-crc32+head": client_s3transfer_checked,
    "single-put": client_single_put,
}


def run_client(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    CLIENTS[args.client](args)
    elapsed = time.perf_counter() - started
    sending = (_last_byte_sent[0] if _last_byte_sent else time.perf_counter()) - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "sending_seconds": sending,
                "cpu": usage.ru_utime + usage.ru_stime,
                "rss_kib": peak_rss_kib(),
            }
        )
    )


def peak_rss_kib() -> int:
    """This process's own peak RSS (VmHWM). ru_maxrss is no good here: a child started with fork+exec
    inherits its parent's high-water mark, and the parent runs the local API and moto."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --- the orchestrator ---------------------------------------------------------------------------------


def measure(client: str, common: list[str]) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, __file__, "--client", client, *common],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{client} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def orchestrate(args: argparse.Namespace) -> None:
    from backend.local import LocalStack

    work = Path(tempfile.mkdtemp(prefix="s3up-bench-", dir="/dev/shm" if Path("/dev/shm").exists() else None))
    data_dir = work / "s3"
    (data_dir / "bench").mkdir(parents=True)
    source = work / "source.bin"
    with source.open("wb") as file:
        for _ in range(args.size_mib):
            file.write(os.urandom(MIB))
    rclone, s3_endpoint = start_rclone(data_dir)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in args.clients}
    try:
        with LocalStack(
            s3_endpoint=s3_endpoint, bucket="bench", s3_credentials=(ACCESS, SECRET), url_expiry=3600
        ) as stack:
            common = [
                "--file",
                str(source),
                "--api",
                stack.api_url,
                "--token",
                stack.token,
                "--s3",
                s3_endpoint,
                "--bucket",
                "bench",
                "--part-mib",
                str(args.part_mib),
                "--concurrency",
                str(args.concurrency),
            ]
            for round_number in range(args.rounds):
                for name in args.clients:  # interleaved, so that drift on the machine hits all alike
                    key = f"bench-{name}-{round_number}.bin"
                    sample = measure(name, [*common, "--key", key])
                    results[name].append(sample)
                    print(
                        f"round {round_number + 1} {name:<11} {args.size_mib / sample['seconds']:8.1f} MiB/s "
                        f"cpu {sample['cpu']:.2f} s  rss {sample['rss_kib'] / 1024:.0f} MiB",
                        file=sys.stderr,
                    )
                    (data_dir / "bench" / key).unlink(missing_ok=True)
    finally:
        rclone.terminate()
        rclone.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    gib = args.size_mib / 1024
    print(
        f"\n{args.size_mib} MiB file, parts of {args.part_mib} MiB, {args.concurrency} connections, "
        f"{args.rounds} rounds (medians), {os.cpu_count()} cores\n"
    )
    print("| client | MiB/s | client CPU s per GiB | client peak RSS MiB |")
    print("| --- | ---: | ---: | ---: |")
    for name, samples in results.items():
        speed = statistics.median(args.size_mib / s["seconds"] for s in samples)
        cpu = statistics.median(s["cpu"] / gib for s in samples)
        rss = statistics.median(s["rss_kib"] / 1024 for s in samples)
        print(f"| {name} | {speed:.0f} | {cpu:.2f} | {rss:.0f} |")
    if "engine" in results:
        sending = statistics.median(args.size_mib / s["sending_seconds"] for s in results["engine"])
        finishing = statistics.median(s["seconds"] - s["sending_seconds"] for s in results["engine"])
        print(
            f"\nengine: {sending:.0f} MiB/s until the last part landed, then {finishing:.2f} s to finalize "
            "through the API and check the link"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--clients", nargs="+", default=list(CLIENTS), choices=list(CLIENTS))
    parser.add_argument("--client", choices=list(CLIENTS), help=argparse.SUPPRESS)
    for name in ("--file", "--api", "--token", "--s3", "--bucket", "--key"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["BENCH_CONCURRENCY"] = str(args.concurrency)
    if args.client:
        run_client(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
