"""Upload throughput, client CPU and client memory: this engine vs boto3's s3transfer vs one presigned PUT.

Run by hand (not in CI):  python benchmarks/bench_upload.py --size-mib 1024 --rounds 5

Everything runs on this machine: `rclone serve s3` (a real S3 server that checks SigV4) on /dev/shm, the
local API in front of it for the engine, and each client in its own subprocess so that its CPU time and
peak RSS are its own. Medians over the rounds are printed as Markdown tables, one per CPU placement:

- shared: client and server share every core, so each CPU second the client spends is taken from the
  server (rclone alone spends about 6 CPU s per GiB);
- split: the server gets half of the cores and the client the other half, as when they are different
  machines.
"""

from __future__ import annotations

import argparse
import contextlib
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


def start_rclone(
    data_dir: Path, etag_hash: str, tls: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`tls`: a folder holding cert.pem and key.pem, to serve HTTPS as S3 does."""
    port = free_port()
    tls_options = ["--cert", str(tls / "cert.pem"), "--key", str(tls / "key.pem")] if tls else []
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
            "--etag-hash",
            etag_hash,
            *tls_options,
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("rclone serve s3 did not start")


# --- the clients, each run in its own process ---------------------------------------------------------


_last_byte_sent: list[float] = []  # when a client had sent every byte (before completing the upload)


def _mark_last_byte() -> None:
    if not _last_byte_sent:
        _last_byte_sent.append(time.perf_counter())


def client_engine(args: argparse.Namespace, check_md5: bool = True, defaults: bool = False) -> None:
    """The engine at the benchmark's part size and connections, or (`defaults`) with its own: adaptive
    connections and an automatic part size."""
    from app.core.journal import Journal
    from app.core.manager import UploadManager
    from app.core.models import TransferSettings, UploadRequest, UploadState

    if not check_md5:
        _patch_out_md5()
    with tempfile.TemporaryDirectory() as tmp, Journal(Path(tmp) / "j.sqlite3") as journal:
        settings = (
            TransferSettings()
            if defaults
            else TransferSettings(
                max_connections=args.concurrency,
                per_file_connections=args.concurrency,
                part_size=args.part_mib * MIB,
            )
        )
        manager = UploadManager(journal, lambda _url: args.token, settings)
        manager.subscribe(lambda status: status.state is UploadState.FINALIZING and _mark_last_byte())
        try:
            added = manager.add_many(
                [
                    UploadRequest(
                        path=Path(args.file),
                        api_url=args.api,
                        key=args.key,
                        metadata={"organizationId": "bench", "objectRecordId": "1"},
                        overwrite=True,
                    )
                ]
            )
            if added.refused:
                raise added.refused[0][1]
            status = added.added[0]
            manager.wait([status.id])
            final = manager.status(status.id)
            if final is None or final.state is not UploadState.DONE:
                raise RuntimeError(f"the engine did not finish: {final}")
        finally:
            manager.shutdown()


def _patch_out_md5() -> None:
    """Diagnostic only: no MD5 of the parts and no ETag check, to show what the MD5 itself costs."""
    import re
    import types

    import app.core.transfer as transfer

    class NoDigest:
        def update(self, _data: object) -> None:
            pass

        def hexdigest(self) -> str:
            return ""

    transfer.hashlib = types.SimpleNamespace(md5=lambda **_: NoDigest())  # type: ignore[assignment]
    transfer.ETAG_MD5 = re.compile(r"(?!)")  # matches nothing, so no ETag is compared


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
    kind = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    connection = kind(target.hostname, target.port, timeout=600, blocksize=1024 * 1024)
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
    "engine-defaults": lambda args: client_engine(args, defaults=True),
    "engine-no-md5": lambda args: client_engine(args, check_md5=False),
    "s3transfer": client_s3transfer,
    "s3transfer-crc32": lambda args: client_s3transfer(args, checksums=True),
    "s3transfer-crc32+head": client_s3transfer_checked,
    "single-put": client_single_put,
}


def run_client(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, parse_cpus(args.cpus))  # before any thread starts: they all inherit it
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


def own_cpu_seconds() -> float:
    """This process's CPU time, its children's excluded: the local API's share, in the orchestrator."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_kib() -> int:
    """This process's own peak RSS (VmHWM). ru_maxrss is no good here: a child started with fork+exec
    inherits its parent's high-water mark, and the parent runs the local API and moto."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --- CPU placement ------------------------------------------------------------------------------------


def parse_cpus(text: str) -> set[int]:
    return {int(cpu) for cpu in text.split(",")}


def placements() -> dict[str, tuple[set[int], set[int]]]:
    """(server CPUs, client CPUs) for each placement."""
    cpus = sorted(os.sched_getaffinity(0))
    half = max(1, len(cpus) // 2)
    return {
        "shared": (set(cpus), set(cpus)),
        "split": (set(cpus[:half]), set(cpus[half:]) or set(cpus)),
    }


def pin_process(pid: int, cpus: set[int]) -> None:
    """Every thread of the process (sched_setaffinity on a pid reaches only its main thread)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # the thread ended meanwhile
            os.sched_setaffinity(int(task.name), cpus)


# --- the orchestrator ---------------------------------------------------------------------------------


def measure(client: str, cpus: set[int], common: list[str]) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cpu_list = ",".join(map(str, sorted(cpus)))
    result = subprocess.run(
        [sys.executable, __file__, "--client", client, "--cpus", cpu_list, *common],
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
    tls = make_certificate(work) if args.tls else None
    rclone, s3_endpoint = start_rclone(data_dir, args.etag_hash, tls)
    layouts = {name: placements()[name] for name in args.placements}
    results = {(layout, name): [] for layout in layouts for name in args.clients}
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
            # Unrecorded: the first upload of a run finds the server cold (its heap growing, its first
            # TLS handshakes) and would charge that to whichever client comes first.
            warm_up = "bench-warm-up.bin"
            measure("single-put", set(range(os.cpu_count() or 1)), [*common, "--key", warm_up])
            (data_dir / "bench" / warm_up).unlink(missing_ok=True)
            for round_number in range(args.rounds):
                # interleaved, so that drift on the machine hits every client alike
                for layout, (server_cpus, client_cpus) in layouts.items():
                    pin_process(rclone.pid, server_cpus)
                    pin_process(os.getpid(), server_cpus)  # the local API runs in this process
                    for name in rotated(args.clients, round_number):
                        key = f"bench-{layout}-{name}-{round_number}.bin"
                        api_cpu_before = own_cpu_seconds()
                        sample = measure(name, client_cpus, [*common, "--key", key])
                        sample["api_cpu"] = own_cpu_seconds() - api_cpu_before
                        results[layout, name].append(sample)
                        print(
                            f"round {round_number + 1} {layout:<6} {name:<22} "
                            f"{args.size_mib / sample['seconds']:6.1f} MiB/s  cpu {sample['cpu']:.2f} s  "
                            f"rss {sample['rss_kib'] / 1024:.0f} MiB",
                            file=sys.stderr,
                        )
                        (data_dir / "bench" / key).unlink(missing_ok=True)
    finally:
        rclone.terminate()
        rclone.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    for layout, (server_cpus, client_cpus) in layouts.items():
        print_table(args, layout, server_cpus, client_cpus, {n: results[layout, n] for n in args.clients})


def make_certificate(work: Path) -> Path:
    """A self-signed certificate for 127.0.0.1, trusted by every client through the environment."""
    from tests.core.test_proxies import _self_signed_certificate

    cert, key = _self_signed_certificate()
    (work / "cert.pem").write_bytes(cert)
    (work / "key.pem").write_bytes(key)
    os.environ["SSL_CERT_FILE"] = os.environ["AWS_CA_BUNDLE"] = str(work / "cert.pem")  # OpenSSL, botocore
    return work


def round_ratio(samples: list[dict[str, float]], references: list[dict[str, float]]) -> float:
    """Median over the rounds of (this client's speed / the reference's speed in the same round)."""
    pairs = zip(samples, references, strict=True)
    return statistics.median(ref["seconds"] / own["seconds"] for own, ref in pairs)


def rotated(clients: list[str], round_number: int) -> list[str]:
    """Each round starts with the next client, so that no client always follows the same one (the
    server's state after a client, e.g. rclone's garbage collection, would always fall on the next)."""
    shift = round_number % len(clients)
    return clients[shift:] + clients[:shift]


def print_table(
    args: argparse.Namespace,
    layout: str,
    server_cpus: set[int],
    client_cpus: set[int],
    results: dict[str, list[dict[str, float]]],
) -> None:
    gib = args.size_mib / 1024
    where = (
        f"client and server share CPUs {sorted(client_cpus)}"
        if layout == "shared"
        else f"server on CPUs {sorted(server_cpus)}, client on CPUs {sorted(client_cpus)}"
    )
    print(
        f"\n{layout}: {args.size_mib} MiB file over {'HTTPS' if args.tls else 'HTTP'}, "
        f"parts of {args.part_mib} MiB, "
        f"{args.concurrency} connections, {args.rounds} rounds (medians), {where}\n"
    )
    transfers = [name for name in ("s3transfer-crc32", "s3transfer") if name in results][:1]
    references = [*transfers, *(["single-put"] if "single-put" in results else [])]
    print(
        "| client | MiB/s | "
        + "".join(f"× {name} | " for name in references)
        + "client CPU s per GiB | client peak RSS MiB |"
    )
    print("| --- | ---: | " + "---: | " * len(references) + "---: | ---: |")
    for name, samples in results.items():
        speed = statistics.median(args.size_mib / s["seconds"] for s in samples)
        # the ratio of each round's pair, so that the machine's drift between rounds cancels out
        ratios = "".join(f"{round_ratio(samples, results[ref]):.2f} | " for ref in references)
        cpu = statistics.median(s["cpu"] / gib for s in samples)
        rss = statistics.median(s["rss_kib"] / 1024 for s in samples)
        print(f"| {name} | {speed:.0f} | {ratios}{cpu:.2f} | {rss:.0f} |")
    if "engine" in results:
        samples = results["engine"]
        sending = statistics.median(args.size_mib / s["sending_seconds"] for s in samples)
        finishing = statistics.median(s["seconds"] - s["sending_seconds"] for s in samples)
        api_cpu = statistics.median(s["api_cpu"] / gib for s in samples)
        print(
            f"\nengine: {sending:.0f} MiB/s until the last part landed, then {finishing:.2f} s to finalize "
            f"through the API and check the link; the local API used {api_cpu:.2f} CPU s per GiB "
            "(on the server's CPUs)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--etag-hash",
        default="",
        help="rclone's --etag-hash: with MD5, every HEAD of an object re-reads and hashes all of it "
        "(S3 does not), which charges any client that checks its object; off by default",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve S3 over HTTPS, as AWS does (the engine then spends no MD5 on the parts: TLS guards "
        "them); rclone cannot take boto3's CRC32 there (aws-chunked bodies), so compare with s3transfer",
    )
    parser.add_argument("--clients", nargs="+", default=list(CLIENTS), choices=list(CLIENTS))
    parser.add_argument("--placements", nargs="+", default=["shared", "split"], choices=["shared", "split"])
    parser.add_argument("--client", choices=list(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("--cpus", help=argparse.SUPPRESS)
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
