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
from collections.abc import Callable, Sequence
from typing import Any

from app.cli import Interruption
from app.cli.context import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PAUSED_OUTCOME,
    CliError,
    api_url_of,
    cdn_of,
    remember_api,
    token_for,
)
from app.cli.output import LIST_HEADER, ProgressPrinter, list_line
from app.cli.parser import build_parser
from app.cli.remote import abort_remote, cmd_list_remote, existing_deployment_abort_note, resume_remote
from app.cli.running import Watch, engine
from app.cli.tokens import NO_KEYRING_HINT, given_token, no_token_sentence, read_token_file, tokens_by_api
from app.core.adding import ADD_GROUP
from app.core.api import ApiClient, ApiInfo, normalize_api_url
from app.core.credentials import CredentialStore, KeyringUnavailableError
from app.core.engine import open_engine
from app.core.errors import UploadError
from app.core.folders import FoundFile, collect
from app.core.keys import KeyTemplateError, check_key, join_prefix
from app.core.logs import setup_logging
from app.core.manager import UploadManager
from app.core.metadata import REQUIRED_FIELDS, MetadataError, load_metadata_argument
from app.core.models import TransferSettings, UploadRequest, UploadStatus
from app.core.ownership import BusyElsewhereError
from app.core.states import UploadState

MAX_PROBLEMS_SHOWN = 20
DEFAULT_RECENT = 20  # finished uploads `s3up list` shows
# Files handed to the engine per call: it records them in groups of ADD_GROUP and starts each group at
# once, so sending begins long before a folder of 10,000 is recorded; between calls, finished files are
# printed and Ctrl-C is answered.
ADD_CHUNK = 2 * ADD_GROUP


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
    api_url = api_url_of(args.api)
    token = token_for(api_url, args)
    metadata = _metadata(args.metadata, required=())
    keyed = _keyed_files(args)
    interruption.check()
    info = ApiClient(api_url, token).probe()  # creates nothing; stops at a wrong URL or a refused token
    interruption.check()
    cdn_base_url = cdn_of(api_url, args.cdn_base_url)
    if not info.extended:
        _require_core_fields(metadata)
        if not cdn_base_url:
            print(
                "s3up: this API does not return links; pass --cdn-base-url to get them "
                "(it is remembered for next time).",
                file=sys.stderr,
            )
    remember_api(api_url, args.cdn_base_url)
    with engine(args, {api_url: token}.get, interruption) as manager:
        interruption.outcome = PAUSED_OUTCOME
        watch = Watch(manager, args)
        for start in range(0, len(keyed), ADD_CHUNK):
            requests = [
                UploadRequest(
                    path=found.path,
                    api_url=api_url,
                    key=key,
                    metadata=metadata,
                    content_type=args.content_type,
                    overwrite=args.overwrite,
                    accelerate=args.accelerate,
                    cdn_base_url=cdn_base_url,
                )
                for found, key in keyed[start : start + ADD_CHUNK]
            ]
            with interruption.deferred():  # a group is recorded and handed to the engine whole
                added = manager.add_many(requests)  # each group starts as soon as it is recorded
            watch.add(status.id for status in added.added)
            for request, error in added.refused:
                watch.refused(request, error.message)
            watch.pump()
            interruption.check()
        return watch.wait(interruption)


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
    if args.remote is not None:
        if conflict_choice:
            raise CliError(
                "--overwrite and --key apply to an upload of this computer's list; give its number "
                "instead of --remote."
            )
        return resume_remote(args, interruption)
    for option, given in (("--file", args.file), ("--api", args.api)):
        if given is not None:
            raise CliError(
                f"{option} goes with --remote FILE_ID (an upload on the server, from `s3up list --remote`); "
                "an upload of `s3up list` goes on with its own file, at its own API."
            )
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
    with engine(args, tokens.get, interruption) as manager:
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
        watch = Watch(manager, args)
        running, unfinished = [], 0
        interruption.outcome = PAUSED_OUTCOME
        for status in asked:
            if status.sent_elsewhere:
                print(f"s3up: {status.message}", file=sys.stderr)
                unfinished += not args.all
            elif status.api_url in without:
                unfinished += 1
            elif status.state is UploadState.CONFLICT and not conflict_choice:
                watch.printer.report(status)  # its line says what will work; resuming as it is would not
                unfinished += 1
            elif _resumed(manager, status, args, conflict_choice):
                running.append(status.id)
            else:
                unfinished += not args.all
        watch.add(running)
        code = watch.wait(interruption) if running else EXIT_OK
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
    if args.remote:
        if args.recent is not None:
            raise CliError("--recent counts finished uploads of this computer; `s3up list --remote` shows "
                           "the unfinished ones on the server.")  # fmt: skip
        return cmd_list_remote(args, interruption)
    if args.api is not None:
        raise CliError(
            "--api goes with --remote (the uploads the server holds); `s3up list` shows this computer's "
            "uploads, whatever their API."
        )
    interruption.outcome = "nothing was changed"
    with open_engine(lambda _url: None, TransferSettings(max_connections=1)) as opened:
        statuses = opened.manager.restore() + opened.manager.history(
            DEFAULT_RECENT if args.recent is None else args.recent
        )
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
    if args.remote is not None:
        return abort_remote(args, interruption)
    if args.api is not None:
        raise CliError(
            "--api goes with --remote FILE_ID (an upload on the server, from `s3up list --remote`); an "
            "upload of `s3up list` is aborted at its own API."
        )
    given = given_token(args)
    store = CredentialStore()
    tokens: dict[str, str] = {}
    with open_engine(tokens.get, TransferSettings(max_connections=1)) as opened:
        manager = opened.manager
        listed = {status.id: status for status in manager.restore()}
        if args.id not in listed:
            raise CliError(f"There is no unfinished upload number {args.id}; `s3up list` shows them.")
        before = listed[args.id]
        tokens.update(tokens_by_api([before.api_url], given, store)[0])
        info = _probe_quietly(before.api_url, tokens.get(before.api_url))
        interruption.outcome = f"upload {args.id} may not be cancelled: run `s3up abort {args.id}` again"
        manager.cancel(args.id)
        after = manager.status(args.id)
    print(_cancelled_sentence(before, after, info))
    return EXIT_OK


def _probe_quietly(api_url: str, token: str | None) -> ApiInfo | None:
    """What kind of API this is, or None when that cannot be learnt now (the cancel goes on anyway)."""
    try:
        return ApiClient(api_url, token).probe()
    except UploadError:
        return None


def _cancelled_sentence(before: UploadStatus, after: UploadStatus | None, info: ApiInfo | None) -> str:
    """What `s3up abort N` did, truthfully: on the existing deployment nothing can delete the parts."""
    done = f"Upload {before.id} cancelled"
    if before.upload_id is None and before.bytes_done == 0:
        return f"{done}; no part of it had been sent."
    if info is not None and not info.extended:
        return f"{done} here. {existing_deployment_abort_note(before.bytes_done)}"
    if after is not None and after.message:  # the engine's note: the server could not delete them now
        return f"{done}. {after.message}"
    return f"{done}; the server deleted the parts already sent."


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
    remember_api(api_url)
    stored = f"The token is stored in {store.backend_name()}."
    if info.extended:
        who = f" as {info.principal} ({info.organization_id})" if info.principal else ""
        print(f"Signed in to {api_url}{who}. {stored}")
    else:
        print(
            f"Signed in to {api_url}: the existing deployment (its core routes only). {stored}\n"
            "- The address answers as the upload API, but the token itself could not be checked: this API "
            "checks it only when an upload starts, so the first upload will.\n"
            '- Uploads there need --metadata with "organizationId" and "objectRecordId", and '
            "--cdn-base-url for their links.\n"
            "- Listing or aborting unfinished uploads on the server needs this project's API."
        )
    return EXIT_OK


def cmd_logout(args: argparse.Namespace, interruption: Interruption) -> int:
    api_url = api_url_of(args.api)
    interruption.outcome = "the token may still be stored: run `s3up logout` again"
    if CredentialStore().delete(api_url):
        print(f"Signed out of {api_url}; the stored token was deleted.")
    else:
        print(f"No token was stored for {api_url}; there was nothing to delete.")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, Interruption], int]] = {
    "upload": cmd_upload,
    "resume": cmd_resume,
    "list": cmd_list,
    "abort": cmd_abort,
    "login": cmd_login,
    "logout": cmd_logout,
}
