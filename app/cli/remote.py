"""The uploads the server holds, from any computer: `s3up list --remote`, `resume --remote`, `abort --remote`.

They need this project's API (`/listUploads`, `/listParts`, `/abortUpload`); on the existing deployment
each says so in a sentence and exits 2. An upload is named by its FILE ID, or by any start of it that
only one unfinished upload has (the table shows the first 16 characters; `--json` the whole id).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from app.cli import Interruption
from app.cli.context import (
    EXIT_FAILED,
    EXIT_OK,
    PAUSED_OUTCOME,
    CliError,
    api_url_of,
    remember_api,
    token_for,
)
from app.cli.running import Watch, engine
from app.core.api import ApiClient, ApiInfo
from app.core.api_records import RemoteUpload
from app.core.engine import open_engine
from app.core.models import TransferSettings
from app.core.ownership import BusyElsewhereError
from app.core.planner import format_size
from app.core.remote import RemoteUnfinished
from app.core.steps import parts_expire_at

MAX_PAGES = 20  # of 1,000 uploads, as the core lists them
SHORT_ID = 16  # characters of a FILE ID in the table
MIN_ID_START = 6  # the shortest start of a FILE ID a command takes
_TIME_WIDTH = len("2025-01-31 23:59")
_SIZE_WIDTH = len("1023.9 MiB")
_LOCAL_WIDTH = len("upload 99999")

REMOTE_HEADER = (
    f"{'STARTED':<{_TIME_WIDTH}}  {'SIZE':>{_SIZE_WIDTH}}  {'ON S3':>{_SIZE_WIDTH}}  "
    f"{'PARTS KEPT UNTIL':<{_TIME_WIDTH}}  {'LOCAL':<{_LOCAL_WIDTH}}  {'FILE ID':<{SHORT_ID}}  KEY"
)
REMOTE_HINT = (
    "`s3up resume --remote FILE_ID --file PATH` goes on with a local file (the parts already sent must "
    "match it); `s3up abort --remote FILE_ID` deletes the parts. An upload with a LOCAL number also goes "
    "on with `s3up resume N`."
)
_NEEDS_LISTING = {
    "list": "Listing the unfinished uploads on the server",
    "resume": "Going on with an upload started on another computer",
    "abort": "Aborting an upload on the server",
}
_INSTEAD = {
    "list": "`s3up list` shows the uploads this computer started.",
    "resume": "`s3up resume N` continues an upload this computer started (`s3up list` shows them).",
    "abort": (
        "`s3up abort N` cancels an upload this computer started; its parts stay in the bucket until the "
        "bucket's clean-up rule for unfinished uploads removes them."
    ),
}


def existing_deployment_abort_note(bytes_sent: int) -> str:
    """What cancelling leaves behind on the existing deployment (it has no /abortUpload route)."""
    sent = f"the {format_size(bytes_sent)} already sent stay" if bytes_sent else "any parts already sent stay"
    return (
        "The existing deployment cannot delete an upload's parts (it has no /abortUpload route): "
        f"{sent} in its bucket until the bucket's clean-up rule for unfinished uploads removes them."
    )


def cmd_list_remote(args: argparse.Namespace, interruption: Interruption) -> int:
    """The user's unfinished uploads the server holds, newest first, under a header (or `--json`)."""
    interruption.outcome = "nothing was changed"
    api_url, token, info = _listing_api(args, "list")
    with open_engine({api_url: token}.get, TransferSettings(max_connections=1)) as opened:
        found = opened.manager.remote_uploads(api_url)
    remember_api(api_url)
    if args.json:
        for upload in found:
            print(json.dumps(remote_json(upload, info, api_url)))
    elif found:
        print(REMOTE_HEADER)
        for upload in found:
            print(remote_line(upload, info))
        print(REMOTE_HINT, file=sys.stderr)
    else:
        print(f"No unfinished uploads on {api_url}.")
    return EXIT_OK


def resume_remote(args: argparse.Namespace, interruption: Interruption) -> int:
    """Go on with an upload the server holds, sending the rest of a local file; the file is taken only
    when every part already sent has its bytes."""
    api_url, token, _info = _listing_api(args, "resume")
    upload = _find(ApiClient(api_url, token), args.remote)
    with engine(args, {api_url: token}.get, interruption) as manager:
        known = [s for s in manager.restore() if s.upload_id == upload.file_id and s.api_url == api_url]
        path = args.file or (known[0].path if known else None)
        if path is None:
            raise CliError(
                f"Give the local file with --file PATH: the upload of “{upload.file_key}” was started on "
                "another computer (or this computer's record of it was lost)."
            )
        watch = Watch(manager, args)
        interruption.outcome = PAUSED_OUTCOME
        try:
            status = manager.adopt_remote(api_url, upload.file_id, Path(path))
        except BusyElsewhereError as busy:
            print(f"s3up: {busy.message}", file=sys.stderr)
            return EXIT_FAILED
        if status.bytes_done:
            print(
                f"s3up: the {format_size(status.bytes_done)} already on the server match {status.path.name}; "
                f"sending the rest as upload {status.id}.",
                file=sys.stderr,
            )
        watch.add([status.id])
        return watch.wait(interruption)


def abort_remote(args: argparse.Namespace, interruption: Interruption) -> int:
    """Abort an upload the server holds (started anywhere): the server deletes its parts."""
    api_url, token, _info = _listing_api(args, "abort")
    upload = _find(ApiClient(api_url, token), args.remote)
    interruption.outcome = f"the upload may not be aborted: run `s3up abort --remote {args.remote}` again"
    with open_engine({api_url: token}.get, TransferSettings(max_connections=1)) as opened:
        manager = opened.manager
        known = [s for s in manager.restore() if s.upload_id == upload.file_id and s.api_url == api_url]
        manager.abort_remote(api_url, upload.file_id)
        after = manager.status(known[0].id) if known else None
    here = f" (upload {known[0].id} of this computer is cancelled too)" if known else ""
    if after is not None and after.message:  # cancelled here, but the server could not delete the parts
        print(f"The upload of “{upload.file_key}” is cancelled{here}. {after.message}")
    else:
        print(f"Aborted the upload of “{upload.file_key}”{here}: the server deleted the parts it held.")
    return EXIT_OK


def _listing_api(args: argparse.Namespace, command: str) -> tuple[str, str, ApiInfo]:
    """The API, its token and what it offers; a sentence (exit 2) when it cannot list uploads."""
    api_url = api_url_of(args.api)
    token = token_for(api_url, args)
    info = ApiClient(api_url, token).probe()
    if not info.has("listUploads"):
        what = "the existing deployment" if not info.extended else "an API without the /listUploads route"
        raise CliError(
            f"{_NEEDS_LISTING[command]} needs this project's upload API; {api_url} is {what}, which "
            f"does not list unfinished uploads. {_INSTEAD[command]}"
        )
    return api_url, token, info


def _find(api: ApiClient, given: str) -> RemoteUpload:
    """The unfinished upload whose FILE ID is `given`, or the only one whose FILE ID starts with it."""
    given = given.strip()
    matches = []
    for upload in _unfinished(api):
        if upload.file_id == given:
            return upload
        if upload.file_id.startswith(given):
            matches.append(upload)
    if len(matches) > 1:
        raise CliError(
            f"{len(matches)} unfinished uploads have a FILE ID that starts with {given!r}; give more of it, "
            "as `s3up list --remote --json` shows it."
        )
    if not matches:
        raise CliError(
            f"No unfinished upload on the server has the FILE ID {given!r} (it may be finished, aborted "
            "or cleaned up); `s3up list --remote` shows them."
        )
    if len(given) < MIN_ID_START:
        raise CliError(
            f"Give at least {MIN_ID_START} characters of the FILE ID (one upload's starts with {given!r}), "
            "as `s3up list --remote` shows it."
        )
    return matches[0]


def _unfinished(api: ApiClient) -> Iterator[RemoteUpload]:
    cursor = None
    for _ in range(MAX_PAGES):
        page = api.list_uploads("uploading", limit=1000, cursor=cursor)
        yield from page.uploads
        cursor = page.cursor
        if cursor is None:
            return


def remote_line(upload: RemoteUnfinished, info: ApiInfo) -> str:
    """A row of `s3up list --remote`, under `REMOTE_HEADER`."""
    size = "?" if upload.size is None else format_size(upload.size)
    held = "-" if upload.single else "?" if upload.bytes_held is None else format_size(upload.bytes_held)
    expires = _expiry(upload, info)
    kept = "-" if expires is None else _local_time(expires)
    local = "-" if upload.local_id is None else f"upload {upload.local_id}"
    started = "?" if upload.started_at is None else _local_time(upload.started_at)
    return (
        f"{started:<{_TIME_WIDTH}}  {size:>{_SIZE_WIDTH}}  {held:>{_SIZE_WIDTH}}  {kept:<{_TIME_WIDTH}}  "
        f"{local:<{_LOCAL_WIDTH}}  {upload.file_id[:SHORT_ID]:<{SHORT_ID}}  {upload.key}"
    )


def remote_json(upload: RemoteUnfinished, info: ApiInfo, api_url: str) -> dict[str, object]:
    """The `--json` record of one upload the server holds (times in ISO 8601 UTC)."""
    return {
        "fileId": upload.file_id,
        "key": upload.key,
        "name": upload.name,
        "size": upload.size,
        "startedAt": _iso(upload.started_at),
        "single": upload.single,
        "partsHeld": upload.parts_held,
        "bytesHeld": upload.bytes_held,
        "partsExpireAt": _iso(_expiry(upload, info)),
        "localId": upload.local_id,
        "localFile": None if upload.local_path is None else str(upload.local_path),
        "apiUrl": api_url,
    }


def _expiry(upload: RemoteUnfinished, info: ApiInfo) -> float | None:
    """When the bucket's clean-up rule deletes the parts (a single PUT stores none before it ends)."""
    if upload.single or upload.started_at is None:
        return None
    return parts_expire_at(upload.started_at, info)


def _local_time(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(moment))


def _iso(moment: float | None) -> str | None:
    return None if moment is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
