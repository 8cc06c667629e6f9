"""`s3up`: upload, resume, list and abort uploads from a terminal, on the same core as the desktop app.

Exit status: 0 when every file finished, 1 when some did not (one line per file says why), 2 when the
command could not start (bad arguments, metadata, paths or API; nothing was uploaded), 130 on Ctrl-C
(uploads are paused and `s3up resume` continues them).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.cli_output import ProgressPrinter, list_line
from app.core.api import ApiClient, normalize_api_url
from app.core.credentials import CredentialStore, KeyringUnavailableError
from app.core.errors import UploadError
from app.core.journal import Journal, JournalError
from app.core.keys import KeyTemplateError, check_key, join_prefix
from app.core.logs import register_secret, setup_logging
from app.core.manager import UploadManager
from app.core.metadata import MetadataError, load_metadata_argument
from app.core.models import MIB, TransferSettings, UploadRequest, UploadState
from app.core.ownership import BusyElsewhereError
from app.core.settings import load_settings, save_settings

TOKEN_ENV = "S3UP_TOKEN"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CliError(Exception):
    """A problem found before anything was uploaded; the message is printed as is."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        return int(args.command(args))
    except (CliError, UploadError, JournalError, KeyringUnavailableError) as error:
        print(f"s3up: {getattr(error, 'message', None) or error}", file=sys.stderr)
        return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3up", description="Upload large files to S3 through the upload API."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    upload = commands.add_parser("upload", help="upload files and folders")
    upload.add_argument("paths", nargs="+", type=Path, metavar="FILE|DIR")
    _api_options(upload)
    upload.add_argument("--metadata", help="the pluginPayload JSON object, or @file.json")
    naming = upload.add_mutually_exclusive_group()
    naming.add_argument("--key", help="the object key (one file only)")
    naming.add_argument("--key-prefix", default="", help="put keys under this prefix")
    upload.add_argument("--cdn-base-url", help="base URL of links, for APIs that do not return them")
    upload.add_argument("--content-type", help="Content-Type of the objects (default: from the extension)")
    upload.add_argument("--overwrite", action="store_true", help="replace an existing object at the key")
    _transfer_options(upload)
    upload.set_defaults(command=cmd_upload)

    resume = commands.add_parser("resume", help="continue unfinished uploads")
    which = resume.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", type=int, help="the upload's number (see `s3up list`)")
    which.add_argument("--all", action="store_true", help="every unfinished upload")
    resume.add_argument("--token", help=f"the API token (default: ${TOKEN_ENV}, then the keyring)")
    _transfer_options(resume)
    resume.set_defaults(command=cmd_resume)

    listing = commands.add_parser("list", help="unfinished and recent uploads")
    listing.add_argument("--json", action="store_true", help="one JSON object per upload")
    listing.add_argument("--recent", type=int, default=20, help="how many finished uploads to show")
    listing.set_defaults(command=cmd_list)

    abort = commands.add_parser("abort", help="cancel an unfinished upload and delete its parts")
    abort.add_argument("id", type=int)
    abort.add_argument("--token", help=f"the API token (default: ${TOKEN_ENV}, then the keyring)")
    abort.set_defaults(command=cmd_abort)

    login = commands.add_parser("login", help="check a token and store it in the OS keyring")
    login.add_argument("--api", required=True, help="the API's base URL, e.g. https://…/prod")
    login.set_defaults(command=cmd_login)

    logout = commands.add_parser("logout", help="delete the stored token")
    logout.add_argument("--api", help="the API's base URL (default: the last one used)")
    logout.set_defaults(command=cmd_logout)
    return parser


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", help="the API's base URL (default: the last one used)")
    parser.add_argument("--token", help=f"the API token (default: ${TOKEN_ENV}, then the keyring)")


def _transfer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", type=int, help="parts in flight at once (default 8)")
    parser.add_argument("--part-size", type=int, metavar="MiB", help="part size (default: automatic)")
    parser.add_argument("--bandwidth-limit", type=float, metavar="MiB/s", help="cap on the upload speed")
    parser.add_argument("--accelerate", action="store_true", help="use S3 Transfer Acceleration URLs")
    parser.add_argument("--json", action="store_true", help="one JSON object per file on stdout")


# --- commands -------------------------------------------------------------------------------------


def cmd_upload(args: argparse.Namespace) -> int:
    api_url = _api_url(args.api)
    token = _token(args.token, api_url, required=True)
    try:
        metadata = load_metadata_argument(args.metadata, required=()) if args.metadata else {}
    except MetadataError as error:
        raise CliError(f"The metadata is not valid: {error.message}") from None
    files = _expand(args.paths)
    if args.key and len(files) != 1:
        raise CliError(
            f"--key names one object, but {len(files)} files were given; use --key-prefix instead."
        )
    keyed = [(path, args.key or join_prefix(args.key_prefix, relname)) for path, relname in files]
    for path, key in keyed:
        try:
            check_key(key)
        except KeyTemplateError as error:
            raise CliError(f"{path}: {error}") from None
    info = ApiClient(api_url, token).probe()  # unreachable, wrong URL or rejected token: stop here
    if not info.extended and not args.cdn_base_url:
        print("s3up: this API does not return links; pass --cdn-base-url to get them.", file=sys.stderr)
    _remember_api(api_url)
    with _manager(args, lambda _url: token) as manager:
        statuses = [
            manager.add(
                UploadRequest(
                    path=path,
                    api_url=api_url,
                    key=key,
                    metadata=metadata,
                    content_type=args.content_type,
                    overwrite=args.overwrite,
                    accelerate=args.accelerate,
                    cdn_base_url=args.cdn_base_url,
                )
            )
            for path, key in keyed
        ]
        return _run(manager, [s.id for s in statuses], args.json)


def cmd_resume(args: argparse.Namespace) -> int:
    override = args.token or os.environ.get(TOKEN_ENV)
    store = CredentialStore()
    with _manager(args, lambda url: override or store.get(url)) as manager:
        restored = {status.id: status for status in manager.restore()}
        if args.all:
            wanted = list(restored)
        elif args.id in restored:
            wanted = [args.id]
        else:
            raise CliError(f"There is no unfinished upload number {args.id}; `s3up list` shows them.")
        if not wanted:
            print("Nothing to resume.", file=sys.stderr)
            return EXIT_OK
        running = []
        for upload_ref in wanted:
            try:
                manager.resume(upload_ref)
            except BusyElsewhereError as busy:
                print(busy.message, file=sys.stderr)
            else:
                running.append(upload_ref)
        if not running:
            return EXIT_FAILED
        code = _run(manager, running, args.json)
        return EXIT_FAILED if code == EXIT_OK and len(running) < len(wanted) else code


def cmd_list(args: argparse.Namespace) -> int:
    with Journal.open_default() as journal:
        manager = UploadManager(journal, lambda _url: None, TransferSettings(max_connections=1))
        try:
            statuses = manager.restore() + manager.history(args.recent)
        finally:
            manager.shutdown()
    printer = ProgressPrinter(as_json=args.json)
    for status in statuses:
        if args.json:
            printer.report(status)
        else:
            print(list_line(status))
    if not statuses and not args.json:
        print("No uploads yet.")
    return EXIT_OK


def cmd_abort(args: argparse.Namespace) -> int:
    override = args.token or os.environ.get(TOKEN_ENV)
    store = CredentialStore()
    with Journal.open_default() as journal:
        manager = UploadManager(
            journal, lambda url: override or store.get(url), TransferSettings(max_connections=1)
        )
        try:
            if args.id not in {status.id for status in manager.restore()}:
                raise CliError(f"There is no unfinished upload number {args.id}; `s3up list` shows them.")
            manager.cancel(args.id)
            status = manager.status(args.id)
        finally:
            manager.shutdown()
    note = f" {status.message}" if status and status.message else ""
    print(f"Upload {args.id} cancelled.{note}")
    return EXIT_OK


def cmd_login(args: argparse.Namespace) -> int:
    api_url = normalize_api_url(args.api)
    token = getpass.getpass("Token: ").strip() if sys.stdin.isatty() else sys.stdin.readline().strip()
    if not token:
        raise CliError("No token was given.")
    register_secret(token)
    info = ApiClient(api_url, token).probe()
    store = CredentialStore()
    store.set(api_url, token)
    _remember_api(api_url)
    who = f" as {info.principal} ({info.organization_id})" if info.principal else ""
    checked = (
        "" if info.token_verified else " This API cannot check a token in advance; the first upload will."
    )
    print(f"Signed in to {api_url}{who}. The token is stored in {store.backend_name()}.{checked}")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace) -> int:
    api_url = _api_url(args.api)
    CredentialStore().delete(api_url)
    print(f"Signed out of {api_url}; the stored token was deleted.")
    return EXIT_OK


# --- helpers --------------------------------------------------------------------------------------


class _manager:  # noqa: N801 - used as a context manager like a function
    """An UploadManager on the default journal, shut down (uploads stay resumable) on exit."""

    def __init__(self, args: argparse.Namespace, token_source: Callable[[str], str | None]) -> None:
        concurrency = args.concurrency or 8
        if not 1 <= concurrency <= 64:
            raise CliError("--concurrency must be between 1 and 64.")
        self._settings = TransferSettings(
            max_connections=concurrency,
            per_file_connections=concurrency,
            part_size=args.part_size * MIB if args.part_size else None,
            bandwidth_limit=args.bandwidth_limit * MIB if args.bandwidth_limit else None,
            accelerate=args.accelerate,
        )
        self._token_source = token_source
        self._journal: Journal | None = None
        self._manager: UploadManager | None = None

    def __enter__(self) -> UploadManager:
        self._journal = Journal.open_default()
        self._manager = UploadManager(self._journal, self._token_source, self._settings)
        return self._manager

    def __exit__(self, *exc: Any) -> None:
        assert self._manager is not None
        assert self._journal is not None
        self._manager.shutdown()
        self._journal.close()


def _run(manager: UploadManager, wanted: list[int], as_json: bool) -> int:
    """Wait for the uploads, drawing progress; Ctrl-C pauses them. Returns the exit status."""
    printer = ProgressPrinter(as_json=as_json)
    manager.subscribe(printer.update)
    for status in manager.statuses():
        printer.update(status)
    try:
        while not manager.wait(wanted, timeout=0.2):
            printer.draw(wanted)
            printer.report_finished(wanted)
    except KeyboardInterrupt:
        manager.pause_all()
        printer.finish()
        print("\nPaused. Run `s3up resume --all` to continue.", file=sys.stderr)
        return EXIT_INTERRUPTED
    for status in manager.statuses():
        printer.update(status)
    printer.report_finished(wanted)
    printer.finish()
    finals = [manager.status(upload_ref) for upload_ref in wanted]
    failed = [s for s in finals if s is None or s.state is not UploadState.DONE]
    if failed and not as_json:
        print(
            f"{len(failed)} of {len(wanted)} files did not finish; `s3up resume --all` continues them.",
            file=sys.stderr,
        )
    return EXIT_FAILED if failed else EXIT_OK


def _expand(paths: list[Path]) -> list[tuple[Path, str]]:
    """Files to upload with their names relative to what was given (a folder keeps its own name)."""
    found: list[tuple[Path, str]] = []
    problems = []
    for given in paths:
        path = given.expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            if not files:
                problems.append(f"{given}: the folder has no files.")
            base = path.absolute().parent
            found.extend((p, p.absolute().relative_to(base).as_posix()) for p in files)
        elif path.is_file():
            found.append((path, path.name))
        elif path.exists():
            problems.append(f"{given}: not a regular file or folder.")
        else:
            problems.append(f"{given}: no such file or folder.")
    for path, _ in found:
        if not os.access(path, os.R_OK):
            problems.append(f"{path}: cannot be read (permission denied).")
    if problems:
        raise CliError("Nothing was uploaded:\n  " + "\n  ".join(problems))
    return found


def _api_url(given: str | None) -> str:
    url = given or load_settings().api_url
    if not url:
        raise CliError("No API URL: pass --api https://…/prod (it is remembered for next time).")
    return normalize_api_url(url)


def _remember_api(api_url: str) -> None:
    settings = load_settings()
    if settings.api_url != api_url:
        settings.api_url = api_url
        save_settings(settings)


def _token(given: str | None, api_url: str, *, required: bool) -> str | None:
    token = given or os.environ.get(TOKEN_ENV) or CredentialStore().get(api_url)
    if token:
        register_secret(token)
    elif required:
        raise CliError(
            f"No token for {api_url}: run `s3up login --api {api_url}`, or pass --token or set ${TOKEN_ENV}."
        )
    return token


if __name__ == "__main__":
    sys.exit(main())
