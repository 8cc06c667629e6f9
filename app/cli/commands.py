"""The `s3up` commands: upload, resume, list, abort, login, logout, each on the core's UploadManager.

Each command checks everything it can before it sends a request (options, metadata, paths, keys, the
token's form), then probes the API (which creates nothing), then starts. Problems found before the start
end with one sentence and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from app.cli import Interruption
from app.cli.output import LIST_HEADER, ProgressPrinter, list_line
from app.cli.parser import build_parser
from app.cli.tokens import NO_KEYRING_HINT, given_token, no_token_sentence, read_token_file, tokens_by_api
from app.core.api import ApiClient, normalize_api_url
from app.core.credentials import CredentialStore, KeyringUnavailableError
from app.core.engine import open_engine
from app.core.errors import UploadError
from app.core.folders import FoundFile, collect
from app.core.keys import KeyTemplateError, check_key, join_prefix
from app.core.logs import setup_logging
from app.core.manager import UploadManager
from app.core.metadata import REQUIRED_FIELDS, MetadataError, load_metadata_argument
from app.core.models import MIB, TransferSettings, UploadRequest, UploadStatus
from app.core.ownership import BusyElsewhereError
from app.core.settings import load_settings, save_settings
from app.core.states import UploadState

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_PROBLEMS_SHOWN = 20
PAUSED_OUTCOME = "what was started is paused, and `s3up resume --all` continues it"


class CliError(Exception):
    """A problem found before anything was uploaded; the message is printed as is."""


def run_command(argv: Sequence[str] | None, interruption: Interruption) -> int:
    args = build_parser().parse_args(argv)
    try:
        setup_logging()
    except OSError as error:  # no log is no reason not to upload
        print(f"s3up: note: the log cannot be written ({error.strerror or error}).", file=sys.stderr)
    try:
        return int(COMMANDS[args.command](args, interruption))
    except (CliError, UploadError) as error:  # every core error is an UploadError
        print(f"s3up: {getattr(error, 'message', None) or error}", file=sys.stderr)
        return EXIT_USAGE


# --- upload -----------------------------------------------------------------------------------------


def cmd_upload(args: argparse.Namespace, interruption: Interruption) -> int:
    api_url = _api_url(args.api)
    token = given_token(args) or CredentialStore().get(api_url)
    if not token:
        raise CliError(no_token_sentence(api_url))
    metadata = _metadata(args.metadata, required=())
    keyed = _keyed_files(args)
    interruption.check()
    info = ApiClient(api_url, token).probe()  # creates nothing; stops at a wrong URL or a refused token
    interruption.check()
    if not info.extended:
        _require_core_fields(metadata)
        if not args.cdn_base_url:
            print("s3up: this API does not return links; pass --cdn-base-url to get them.", file=sys.stderr)
    _remember_api(api_url)
    with _engine(args, {api_url: token}.get, interruption) as manager:
        interruption.outcome = PAUSED_OUTCOME
        wanted = []
        for found, key in keyed:
            request = UploadRequest(
                path=found.path,
                api_url=api_url,
                key=key,
                metadata=metadata,
                content_type=args.content_type,
                overwrite=args.overwrite,
                accelerate=args.accelerate,
                cdn_base_url=args.cdn_base_url,
            )
            wanted.append(manager.add(request).id)
        return _run(manager, wanted, args, interruption)


def _metadata(argument: str | None, required: Sequence[str]) -> dict[str, Any]:
    try:
        return load_metadata_argument(argument, required=required) if argument else {}
    except MetadataError as error:
        raise CliError(f"The metadata is not valid: {error.message}") from None


def _require_core_fields(metadata: dict[str, Any]) -> None:
    """The existing deployment's /initialize crashes without these fields: say so before starting."""
    missing = [
        name
        for name in REQUIRED_FIELDS
        if isinstance(metadata.get(name), bool)
        or not isinstance(metadata.get(name), str | int | float)
        or not str(metadata[name]).strip()
    ]
    if missing:
        names = " and ".join(f'"{name}"' for name in missing)
        raise CliError(
            f"This API (the existing deployment) needs {names} in --metadata, as a text or a number; add "
            f"{'it' if len(missing) == 1 else 'them'}, e.g. --metadata "
            f"'{json.dumps({**dict.fromkeys(REQUIRED_FIELDS, '…'), **metadata}, ensure_ascii=False)}'."
        )


def _keyed_files(args: argparse.Namespace) -> list[tuple[FoundFile, str]]:
    """The files to upload with their keys; every problem with paths or keys at once, else a CliError."""
    found = collect(args.paths)
    problems = [problem.message for problem in found.problems]
    if not problems and args.key and len(found.files) != 1:
        raise CliError(
            f"--key names one object, but {len(found.files)} files were given; use --key-prefix instead."
        )
    keyed = [(file, args.key or join_prefix(args.key_prefix, file.relpath)) for file in found.files]
    for file, key in keyed:
        try:
            check_key(key)
        except KeyTemplateError as error:
            problems.append(f"{file.path}: {error.message}")
    twice = [key for key, count in Counter(key for _, key in keyed).items() if count > 1]
    for key in twice:
        paths = ", ".join(str(file.path) for file, k in keyed if k == key)
        problems.append(f"Several files would get the key {key}: {paths}. Upload them separately.")
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        if len(problems) > len(shown):
            shown.append(f"… and {len(problems) - len(shown)} more.")
        raise CliError("Nothing was uploaded:\n  " + "\n  ".join(shown))
    return keyed


# --- resume -----------------------------------------------------------------------------------------


def cmd_resume(args: argparse.Namespace, interruption: Interruption) -> int:
    """Resume one upload or all. With --all, uploads another process is sending are left to it and do
    not count; an upload refused because its key exists is listed with its choices, not sent again.
    The exit status is 1 when one of the uploads this process was to finish did not."""
    conflict_choice = args.overwrite or args.key is not None
    if conflict_choice and args.all:
        raise CliError("--overwrite and --key apply to one upload: give its number instead of --all.")
    if args.key is not None:
        try:
            check_key(args.key)
        except KeyTemplateError as error:
            raise CliError(f"--key {args.key}: {error.message}") from None
    given = given_token(args)
    store = CredentialStore()
    tokens: dict[str, str] = {}  # read below, on this thread, before anything is sent
    with _engine(args, tokens.get, interruption) as manager:
        restored = {status.id: status for status in manager.restore()}
        if not args.all and args.id not in restored:
            raise CliError(f"There is no unfinished upload number {args.id}; `s3up list` shows them.")
        asked = list(restored.values()) if args.all else [restored[args.id]]
        if conflict_choice and asked[0].state is not UploadState.CONFLICT:
            raise CliError(
                f"Upload {args.id} was not refused for its key (it is {asked[0].state.label.lower()}); "
                f"--overwrite and --key are for such uploads only. `s3up resume {args.id}` continues it."
            )
        if not asked:
            print("Nothing to resume.", file=sys.stderr)
            return EXIT_OK
        found, without = tokens_by_api((s.api_url for s in asked if not s.sent_elsewhere), given, store)
        tokens.update(found)
        for api_url in without:
            print(f"s3up: {no_token_sentence(api_url)}", file=sys.stderr)
        printer = ProgressPrinter(as_json=args.json)
        running, unfinished = [], 0
        interruption.outcome = PAUSED_OUTCOME
        for status in asked:
            if status.sent_elsewhere:
                print(f"s3up: {status.message}", file=sys.stderr)
                unfinished += not args.all
            elif status.api_url in without:
                unfinished += 1
            elif status.state is UploadState.CONFLICT and not conflict_choice:
                printer.report(status)  # its line says what will work; resuming as it is would not
                unfinished += 1
            elif _resumed(manager, status, args, conflict_choice):
                running.append(status.id)
            else:
                unfinished += not args.all
        code = _run(manager, running, args, interruption) if running else EXIT_OK
        return EXIT_FAILED if unfinished else code


def _resumed(
    manager: UploadManager, status: UploadStatus, args: argparse.Namespace, conflict_choice: bool
) -> bool:
    """Resume the upload (with the user's choice for its key); False when another process took it."""
    try:
        if conflict_choice:
            manager.resolve_conflict(status.id, overwrite=args.overwrite, new_key=args.key)
        else:
            manager.resume(status.id)
    except BusyElsewhereError as busy:  # taken by another process since restore()
        print(f"s3up: {busy.message}", file=sys.stderr)
        return False
    return True


# --- list, abort, login, logout ---------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, interruption: Interruption) -> int:
    interruption.outcome = "nothing was changed"
    with open_engine(lambda _url: None, TransferSettings(max_connections=1)) as engine:
        statuses = engine.manager.restore() + engine.manager.history(args.recent)
    if args.json:
        printer = ProgressPrinter(as_json=True)
        for status in statuses:
            printer.report(status)
    elif statuses:
        print(LIST_HEADER)
        for status in statuses:
            print(list_line(status))
    else:
        print("No uploads yet.")
    return EXIT_OK


def cmd_abort(args: argparse.Namespace, interruption: Interruption) -> int:
    given = given_token(args)
    store = CredentialStore()
    tokens: dict[str, str] = {}
    with open_engine(tokens.get, TransferSettings(max_connections=1)) as engine:
        manager = engine.manager
        listed = {status.id: status for status in manager.restore()}
        if args.id not in listed:
            raise CliError(f"There is no unfinished upload number {args.id}; `s3up list` shows them.")
        tokens.update(tokens_by_api([listed[args.id].api_url], given, store)[0])
        interruption.outcome = f"upload {args.id} may not be cancelled: run `s3up abort {args.id}` again"
        manager.cancel(args.id)
        status = manager.status(args.id)
    note = f" {status.message}" if status and status.message else ""
    print(f"Upload {args.id} cancelled.{note}")
    return EXIT_OK


def cmd_login(args: argparse.Namespace, interruption: Interruption) -> int:
    api_url = normalize_api_url(args.api)
    store = CredentialStore()
    interruption.outcome = "no token was stored"
    given = given_token(args, use_environment=False)
    try:
        store.require_keyring()  # before the token is asked for
    except KeyringUnavailableError as error:
        raise CliError(f"{error.message} {NO_KEYRING_HINT}") from None
    token = given or read_token_file("-")
    info = ApiClient(api_url, token).probe()
    try:
        store.set(api_url, token)
    except KeyringUnavailableError as error:
        raise CliError(f"{error.message} {NO_KEYRING_HINT}") from None
    _remember_api(api_url)
    who = f" as {info.principal} ({info.organization_id})" if info.principal else ""
    checked = (
        "" if info.token_verified else " This API cannot check a token in advance; the first upload will."
    )
    print(f"Signed in to {api_url}{who}. The token is stored in {store.backend_name()}.{checked}")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace, interruption: Interruption) -> int:
    api_url = _api_url(args.api)
    interruption.outcome = "the token may still be stored: run `s3up logout` again"
    CredentialStore().delete(api_url)
    print(f"Signed out of {api_url}; the stored token was deleted.")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, Interruption], int]] = {
    "upload": cmd_upload,
    "resume": cmd_resume,
    "list": cmd_list,
    "abort": cmd_abort,
    "login": cmd_login,
    "logout": cmd_logout,
}


# --- the engine and its run ------------------------------------------------------------------------


def _transfer_settings(args: argparse.Namespace) -> TransferSettings:
    concurrency = args.concurrency or 8
    return TransferSettings(
        max_connections=concurrency,
        per_file_connections=concurrency,
        part_size=args.part_size * MIB if args.part_size else None,
        bandwidth_limit=args.bandwidth_limit * MIB if args.bandwidth_limit else None,
        accelerate=args.accelerate,
    )


@contextmanager
def _engine(
    args: argparse.Namespace, token_source: Callable[[str], str | None], interruption: Interruption
) -> Iterator[UploadManager]:
    """A manager on the default journal. On the way out (Ctrl-C included) what it is sending is paused
    and its threads stop; every upload stays resumable."""
    with open_engine(token_source, _transfer_settings(args)) as engine:
        try:
            yield engine.manager
        except KeyboardInterrupt:
            interruption.requested.set()
            for status in engine.manager.statuses():
                if status.state in (UploadState.UPLOADING, UploadState.FINALIZING):
                    engine.manager.pause(status.id)
            raise


def _run(
    manager: UploadManager, wanted: list[int], args: argparse.Namespace, interruption: Interruption
) -> int:
    """Wait for the uploads, drawing progress. Returns the exit status."""
    limit = args.bandwidth_limit * MIB if args.bandwidth_limit else None
    printer = ProgressPrinter(as_json=args.json, bandwidth_limit=limit)
    manager.subscribe(printer.update)
    for status in manager.statuses():
        printer.update(status)
    try:
        while not manager.wait(wanted, timeout=0.2):
            interruption.check()
            printer.draw(wanted)
            printer.report_finished(wanted)
    finally:
        printer.finish()
    for status in manager.statuses():
        printer.update(status)
    printer.report_finished(wanted)
    finals: list[UploadStatus | None] = [manager.status(upload_ref) for upload_ref in wanted]
    failed = [s for s in finals if s is None or s.state is not UploadState.DONE]
    if failed and not args.json:
        print(
            f"{len(failed)} of {len(wanted)} file{'s' if len(wanted) != 1 else ''} did not finish; the line "
            "of each says why and what to do.",
            file=sys.stderr,
        )
    return EXIT_FAILED if failed else EXIT_OK


# --- settings ---------------------------------------------------------------------------------------


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
