"""`python -m backend`: manage API tokens, or serve the whole API locally.

    python -m backend tokens create --principal alice --org org-7 [--prefix uploads/alice/] [--expires-in 30d]
    python -m backend tokens list
    python -m backend tokens revoke <id>          (or --token-file FILE|-, or --token <token>)
    python -m backend serve [--port 8750] [--data-dir DIR | --ephemeral] [--token T] [--core-only] ...

`tokens` works against real AWS (default credentials), a DynamoDB endpoint (`--endpoint-url`), a local
API's data folder (`--data-dir`, which `serve` prints) or a SQLite table store (`--table-store PATH`).
A new token is printed once, alone on stdout. A chosen token is read from a file or stdin
(`--token-file`), so that it shows in no process list or shell history; `--token` is for scripts that
have no other way.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from backend.config import DEFAULT_TOKENS_TABLE, DYNAMODB_STORE
from backend.local import command as serve_command
from backend.runtime import new_session
from backend.stores.dynamodb_tokens import DynamoTokenStore
from backend.stores.sqlite import SqliteDatabase, SqliteTokenStore
from backend.tokens import MIN_CHOSEN_TOKEN_LENGTH, TokenRecord, TokenStore, check_token_text, hash_token

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
        "--data-dir",
        type=Path,
        help="the tokens of a local API's data folder (`serve` prints it) instead of a DynamoDB table",
    )
    table.add_argument(
        "--endpoint-url",
        default=os.environ.get("DYNAMODB_ENDPOINT_URL"),
        help="DynamoDB endpoint, e.g. the local stack's (default: AWS)",
    )
    table.add_argument(
        "--table-store",
        default=os.environ.get("TABLE_STORE") or DYNAMODB_STORE,
        help='"dynamodb", or the SQLite file of a local stack (default: $TABLE_STORE or %(default)s)',
    )
    create = actions.add_parser("create", parents=[table], help="issue a token (printed once)")
    create.add_argument("--principal", required=True, help="who the token is for")
    create.add_argument("--org", default="", help="the principal's organisation id")
    create.add_argument("--prefix", default="", help='uploads must go under this key prefix, e.g. "alice/"')
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in", type=parse_duration, help="lifetime: 3600, 90m, 12h, 30d, 2w")
    expiry.add_argument("--expires-at", type=parse_time, help="expiry time, ISO 8601")
    chosen = create.add_mutually_exclusive_group()
    chosen.add_argument(
        "--token-file",
        type=argparse.FileType("r", encoding="utf-8"),
        help=f"register the token in this file ('-': stdin) instead of generating one; "
        f"at least {MIN_CHOSEN_TOKEN_LENGTH} printable ASCII characters",
    )
    chosen.add_argument("--token", help="as --token-file, from the command line (visible to other users)")
    actions.add_parser("list", parents=[table], help="list tokens (ids and owners, never the tokens)")
    revoke = actions.add_parser("revoke", parents=[table], help="revoke a token")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="the token's id (at least 8 hex digits, from `list`)")
    which.add_argument(
        "--token-file", type=argparse.FileType("r", encoding="utf-8"), help="the token, from a file"
    )
    which.add_argument("--token", help="the token itself (visible to other users)")

    serve = commands.add_parser("serve", help="run the whole API locally (gateway, S3 and CDN stand-ins)")
    serve_command.add_arguments(serve)
    return parser


def _token_store(args: argparse.Namespace) -> TokenStore:
    if args.data_dir is not None:
        tables = Path(args.data_dir) / "tables.sqlite3"
        if not tables.is_file():
            raise LookupError(f"{args.data_dir} is not a local API's data folder (it has no tables.sqlite3)")
        return SqliteTokenStore(SqliteDatabase(tables))
    if args.table_store != DYNAMODB_STORE:
        return SqliteTokenStore(SqliteDatabase(args.table_store))
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


def _chosen_token(args: argparse.Namespace) -> str | None:
    """The token given with --token-file or --token (surrounding whitespace dropped), if any."""
    if getattr(args, "token_file", None) is not None:
        with args.token_file as source:
            text = source.read().strip()
        if not text:
            raise ValueError("the token file is empty")
        return text
    token = getattr(args, "token", None)  # `list` has neither option
    return token.strip() if token is not None else None


def _tokens(args: argparse.Namespace) -> int:
    chosen = _chosen_token(args)
    if args.action == "create" and chosen is not None:
        check_token_text(chosen, min_length=MIN_CHOSEN_TOKEN_LENGTH)
    store = _token_store(args)
    if args.action == "create":
        token, record = store.create(args.principal, args.org, args.prefix, _expiry(args), token=chosen)
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
        token_hash = hash_token(chosen) if chosen else store.find(args.id).token_hash
        store.revoke(token_hash)
        print(f"Revoked token {token_hash[:12]}.", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 failed, 2 bad arguments)."""
    args = _parser().parse_args(argv)
    try:
        return _tokens(args) if args.command == "tokens" else serve_command.run(args)
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
