"""`python -m backend serve`: the whole API on this machine until Ctrl-C (see `LocalStack`).

By default the stack keeps its state in a data folder (`<user data folder>/s3up/local-api`) and
listens on the port it used last time (8750 the first time), so that after a stop, a crash or
`kill -9` every upload, part, link and the printed token still work. `--ephemeral` keeps nothing.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from backend.config import DEFAULT_URL_EXPIRY
from backend.logs import RedactingFilter

DEFAULT_PORT = 8750


def add_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port (default: the data folder's from last time, else {DEFAULT_PORT}, {DEFAULT_PORT + 1} "
        "with --core-only; 0 = any)",
    )
    where = serve.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        type=Path,
        help="keep uploads, objects and tokens here (default: a per-user data folder)",
    )
    where.add_argument(
        "--ephemeral", action="store_true", help="keep nothing: a temporary folder, deleted at exit"
    )
    serve.add_argument("--token", help="register this token instead of reusing or generating one")
    serve.add_argument("--url-expiry", type=int, default=DEFAULT_URL_EXPIRY, help="presigned URL lifetime, s")
    serve.add_argument(
        "--s3-endpoint", help="use this S3 server instead of the embedded one (e.g. rclone serve s3)"
    )
    serve.add_argument("--bucket", help="bucket name (created if missing; default: s3up-local)")
    serve.add_argument("--core-only", action="store_true", help="answer as the existing deployment does")
    serve.add_argument(
        "--function-timeout",
        type=float,
        help="Lambda timeout, s: a longer handler gets 502 (default: 3 with --core-only, else none)",
    )
    serve.add_argument(
        "--authorizer-cache-ttl",
        type=float,
        help="how long the gateway reuses an authorizer answer, s (default: 300 with --core-only, else 60)",
    )
    serve.add_argument("--verbose", "-v", action="store_true", help="log every request")


def _data_dir(args: argparse.Namespace) -> Path | None:
    from backend.local.datadir import default_data_dir

    if args.ephemeral:
        return None
    if args.data_dir is not None:
        return Path(args.data_dir)
    return default_data_dir("local-api-core" if args.core_only else "local-api")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 0 after a clean stop, 1 when the stack cannot start."""
    from backend.local import LocalStack
    from backend.local.datadir import DataDirError
    from backend.local.stack import PortInUseError

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose:  # our own loggers only: botocore's debug output is full of credentials
        logging.getLogger("backend").setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack = LocalStack(
        host=args.host,
        port=args.port,
        default_port=DEFAULT_PORT + 1 if args.core_only else DEFAULT_PORT,
        data_dir=_data_dir(args),
        token=args.token,
        url_expiry=args.url_expiry,
        core_only=args.core_only,
        s3_endpoint=args.s3_endpoint,
        bucket=args.bucket,
        function_timeout=args.function_timeout,
        authorizer_cache_ttl=args.authorizer_cache_ttl,
    )
    try:
        stack.start()
    except (PortInUseError, DataDirError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        mode = "core routes only, as the existing deployment" if args.core_only else "all routes"
        kept = "temporary, deleted at exit" if args.ephemeral else "kept after exit"
        print(
            f"s3up local API is running ({mode}), started in {stack.startup_seconds:.2f} s\n"
            f"  API URL:      {stack.api_url}\n"
            f"  CDN base URL: {stack.cdn_base_url}\n"
            f"  Token:        {stack.token}\n"
            f"  S3:           {stack.s3_endpoint} (bucket {stack.bucket})\n"
            f"  Data folder:  {stack.data_dir} ({kept})\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        # A signal may land on another thread, and then only wakes the main thread when it runs
        # Python code again: wake up regularly rather than block for good.
        while not stop.wait(0.2):
            pass
        print("Stopping…", file=sys.stderr, flush=True)
    finally:
        stack.stop()
    return 0
