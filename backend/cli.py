"""`python -m backend`: manage API tokens, or serve the whole API locally.

    python -m backend tokens create --principal alice --org org-7 [--prefix uploads/alice/] [--expires-in 30d]
    python -m backend tokens list
    python -m backend tokens revoke <id>          (or --token <token>)
    python -m backend serve [--host 127.0.0.1] [--port 8750] [--token T] [--url-expiry S]
                            [--s3-endpoint URL --bucket NAME] [--core-only]

`tokens` works against real AWS (default credentials) or a local stack (`--endpoint-url`, the
DynamoDB endpoint `serve` prints). A new token is printed once, alone on stdout.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backend.config import DEFAULT_TOKENS_TABLE, DEFAULT_URL_EXPIRY
from backend.logs import RedactingFilter
from backend.runtime import new_session
from backend.stores.dynamodb import DynamoTokenStore
from backend.tokens import TokenRecord, TokenStore, hash_token

DEFAULT_PORT = 8750
_LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Seconds in "3600", "90s", "30m", "12h", "30d" or "2w"; raises ArgumentTypeError."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text.lower())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 3600, 90m, 12h or 30d)")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def parse_time(text: str) -> int:
    """Epoch seconds of an ISO 8601 time (UTC when no offset is given)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (try 2026-12-31T23:59Z)") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _when(epoch: int | None) -> str:
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend", description="The s3up upload API.")
    commands = parser.add_subparsers(dest="command", required=True)

    tokens = commands.add_parser("tokens", help="create, list or revoke API tokens")
    actions = tokens.add_subparsers(dest="action", required=True)
    table = argparse.ArgumentParser(add_help=False)
    table.add_argument(
        "--table",
        default=os.environ.get("TOKENS_TABLE") or DEFAULT_TOKENS_TABLE,
        help="the tokens table (default: $TOKENS_TABLE or %(default)s)",
    )
    table.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
    table.add_argument(
        "--endpoint-url",
        default=os.environ.get("DYNAMODB_ENDPOINT_URL"),
        help="DynamoDB endpoint, e.g. the local stack's (default: AWS)",
    )
    create = actions.add_parser("create", parents=[table], help="issue a token (printed once)")
    create.add_argument("--principal", required=True, help="who the token is for")
    create.add_argument("--org", default="", help="the principal's organisation id")
    create.add_argument("--prefix", default="", help='uploads must go under this key prefix, e.g. "alice/"')
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in", type=parse_duration, help="lifetime: 3600, 90m, 12h, 30d, 2w")
    expiry.add_argument("--expires-at", type=parse_time, help="expiry time, ISO 8601")
    create.add_argument("--token", help="register this token instead of generating one")
    actions.add_parser("list", parents=[table], help="list tokens (ids and owners, never the tokens)")
    revoke = actions.add_parser("revoke", parents=[table], help="revoke a token")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="the token's id (at least 8 hex digits, from `list`)")
    which.add_argument("--token", help="the token itself")

    serve = commands.add_parser("serve", help="run the API locally (moto, gateway and CDN stand-ins)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s; 0 = any)")
    serve.add_argument("--token", help="register this token instead of generating one")
    serve.add_argument("--url-expiry", type=int, default=DEFAULT_URL_EXPIRY, help="presigned URL lifetime, s")
    serve.add_argument("--s3-endpoint", help="use this S3 server instead of moto's (e.g. rclone serve s3)")
    serve.add_argument("--bucket", help="bucket name (created if missing; default: s3up-local)")
    serve.add_argument("--core-only", action="store_true", help="mimic the existing deployment exactly")
    serve.add_argument("--function-timeout", type=float, help="answer 504 when a handler runs longer, s")
    serve.add_argument("--verbose", "-v", action="store_true", help="log every request")
    return parser


def _token_store(args: argparse.Namespace) -> TokenStore:
    region, credentials = args.region, {}
    if args.endpoint_url:  # e.g. the local stack's, which takes any region and any key
        probe = new_session(region_name=region)
        region = probe.region_name or "us-east-1"
        if probe.get_credentials() is None:
            credentials = _LOCAL_CREDENTIALS
    session = new_session(region_name=region, **credentials)
    return DynamoTokenStore(session.client("dynamodb", endpoint_url=args.endpoint_url), args.table)


def _expiry(args: argparse.Namespace) -> int | None:
    if args.expires_at is not None:
        return int(args.expires_at)
    return int(time.time()) + args.expires_in if args.expires_in else None


def _describe(record: TokenRecord) -> str:
    prefix = record.key_prefix or "(whole bucket)"
    return (
        f"id {record.short_id}  principal {record.principal}  organisation {record.organization_id or '-'}"
        f"  prefix {prefix}  expires {_when(record.expires_at)}"
    )


def _tokens(args: argparse.Namespace) -> int:
    store = _token_store(args)
    if args.action == "create":
        token, record = store.create(args.principal, args.org, args.prefix, _expiry(args), token=args.token)
        print(token)
        print(
            f"Created {_describe(record)}.\nThe token is shown only this once: store it now.", file=sys.stderr
        )
    elif args.action == "list":
        now = time.time()
        rows = store.list_all()
        print(f"{'id':<12}  {'principal':<20}  {'organisation':<14}  {'prefix':<20}  {'expires':<20}  state")
        for r in rows:
            state = r.rejection(now) or "active"
            print(
                f"{r.short_id:<12}  {r.principal:<20}  {r.organization_id or '-':<14}  "
                f"{r.key_prefix or '-':<20}  {_when(r.expires_at):<20}  {state}"
            )
        print(f"{len(rows)} token(s)", file=sys.stderr)
    else:
        token_hash = hash_token(args.token) if args.token else store.find(args.id).token_hash
        store.revoke(token_hash)
        print(f"Revoked token {token_hash[:12]}.", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from backend.local import LocalStack  # needs the `local` extra (moto)

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
        token=args.token,
        url_expiry=args.url_expiry,
        core_only=args.core_only,
        s3_endpoint=args.s3_endpoint,
        bucket=args.bucket or "s3up-local",
        function_timeout=args.function_timeout,
        files_table="Files",
        tokens_table=DEFAULT_TOKENS_TABLE,
    )
    try:
        stack.start()
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise OSError(
                f"cannot listen on {args.host}:{args.port} ({exc.strerror}); try another --port"
            ) from exc
        raise
    try:
        mode = "core routes only (the existing deployment)" if args.core_only else "all routes"
        print(
            f"s3up local API is running ({mode}), started in {stack.startup_seconds:.2f} s\n"
            f"  API URL:      {stack.api_url}\n"
            f"  CDN base URL: {stack.cdn_base_url}\n"
            f"  Token:        {stack.token}\n"
            f"  S3:           {stack.s3_endpoint} (bucket {stack.bucket})\n"
            f"  DynamoDB:     {stack.dynamodb_endpoint} (tables {stack.files_table}, {stack.tokens_table})\n"
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 failed, 2 bad arguments)."""
    args = _parser().parse_args(argv)
    try:
        return _tokens(args) if args.command == "tokens" else _serve(args)
    except (ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        error = exc.response.get("Error", {})
        hint = (
            " (does the table exist in that region/endpoint?)"
            if error.get("Code") == "ResourceNotFoundException"
            else ""
        )
        print(f"error: {error.get('Code')}: {error.get('Message')}{hint}", file=sys.stderr)
        return 1
    except (BotoCoreError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
