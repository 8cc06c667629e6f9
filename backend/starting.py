"""Starting uploads, one or a hundred at a time: what `/initialize` and `/initializeBatch` share.

Callers may rely on:
- a file whose `clientToken` (same principal and organisation) started an upload within
  `CLIENT_TOKEN_DAYS` days gets that upload again — same `fileId`, no second multipart upload —
  or `409 CLIENT_TOKEN_REUSED` when the key, size or kind differ; also when two calls race;
- every other file is checked (key rules, prefix, publication record, S3 when the record cannot
  decide), numbered, started (a multipart upload, or a claim on the key for a single PUT) and
  recorded; a file refused is an `ApiError` in its place and does not affect the others;
- nothing is left that the table does not know: an S3 upload or claim whose record could not
  be written is undone.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backend.apigw import (
    ApiError,
    Caller,
    ErrorType,
    Reason,
    bad_request,
    describe,
    field_int,
    field_object,
    field_str,
)
from backend.concurrency import parallel_map
from backend.files import NewUpload, Upload, UploadState
from backend.keys import MAX_KEY_BYTES, check_key, content_type_for
from backend.limits import PARTS_PER_BATCH_FILE
from backend.publication import CLAIM_SLACK_SECONDS, check_writable, claim_key, release_claim
from backend.runtime import Services
from backend.s3 import (
    MAX_OBJECT_SIZE,
    MAX_SINGLE_PUT_SIZE,
    Listed,
    ObjectHeaders,
    abort_upload,
    list_existing,
    object_exists,
    start_upload,
)
from backend.serving import content_disposition

CLIENT_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
SINGLE_ID_PREFIX = "single-"
LIST_PAGES_PER_KEYS = 10
"""A listing of the batch's common prefix may take one call (1,000 objects) per 10 keys, else HEADs."""


@dataclass(frozen=True)
class Started:
    """A file's upload, and whether an earlier call with its clientToken had started it."""

    upload: Upload
    replayed: bool = False


@dataclass(frozen=True)
class FileRequest:
    """One file to start, as checked from its `/initialize` body (or `/initializeBatch` entry)."""

    key: str
    content_type: str
    file_size: int | None
    overwrite: bool
    client_token: str | None
    single: bool
    parts: int
    """How many part URLs to sign in the answer (batch, multipart only)."""
    request_json: str


def _option(body: dict[str, Any], payload: dict[str, Any], name: str) -> Any:
    """An optional extension field, read from the top level first, then from `pluginPayload`."""
    if name in body:
        return body[name]
    return payload.get(name)


def _client_token(value: Any, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise bad_request('"clientToken" is missing: give each file 16-64 characters of A-Z a-z 0-9 _ -')
        return None
    if not isinstance(value, str) or not CLIENT_TOKEN.fullmatch(value):
        raise bad_request(
            f'"clientToken" must be 16 to 64 characters of A-Z, a-z, 0-9, "_" and "-" (a UUID will do), '
            f"not {describe(value)}"
        )
    return value


def parse_file(body: dict[str, Any], who: Caller, services: Services, *, batch: bool) -> FileRequest:
    """Check one file's start request; raises the `ApiError` (400/403/413) that refuses it."""
    payload = field_object(body, "pluginPayload")
    key = check_key(
        field_str(payload, "imageKey", where="pluginPayload.", max_len=MAX_KEY_BYTES),
        field="pluginPayload.imageKey",
        prefix=who.key_prefix,
    )
    requested_type = _option(body, payload, "contentType")
    if requested_type is not None and not isinstance(requested_type, str):
        raise bad_request(f'"contentType" must be a string, not {describe(requested_type)}')
    size = _option(body, payload, "fileSize")
    file_size = None if size is None else field_int(size, "fileSize", 0, MAX_OBJECT_SIZE)
    overwrite = _option(body, payload, "overwrite")
    if overwrite is not None and not isinstance(overwrite, bool):
        raise bad_request(f'"overwrite" must be true or false, not {describe(overwrite)}')
    single, parts = _kind(body, file_size) if batch else (False, 0)
    request_json = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    size_in_bytes, limit = len(request_json.encode("utf-8")), services.config.max_metadata_bytes
    if size_in_bytes > limit:
        raise ApiError(
            ErrorType.REQUEST_TOO_LARGE,
            f"the request's metadata is {size_in_bytes} bytes; at most {limit} are kept",
        )
    return FileRequest(
        key=key,
        content_type=content_type_for(key, requested_type),
        file_size=file_size,
        overwrite=bool(overwrite),
        client_token=_client_token(_option(body, payload, "clientToken"), required=batch),
        single=single,
        parts=parts,
        request_json=request_json,
    )


def _kind(body: dict[str, Any], file_size: int | None) -> tuple[bool, int]:
    """`(single, parts to sign)` of a batch entry."""
    single = body.get("single", False)
    if not isinstance(single, bool):
        raise bad_request(f'"single" must be true or false, not {describe(single)}')
    if single:
        if "parts" in body:
            raise bad_request('a "single" file has no parts: send either "single": true or "parts", not both')
        if file_size is None:
            raise bad_request('a "single" file needs its "fileSize" (S3 is told the exact length)')
        if file_size > MAX_SINGLE_PUT_SIZE:
            raise bad_request(
                f'"fileSize" {file_size} is over {MAX_SINGLE_PUT_SIZE} bytes (5 GiB), the most one PUT may '
                'send: start it as a multipart upload (without "single")'
            )
        return True, 0
    return False, field_int(body.get("parts", 0), "parts", 0, PARTS_PER_BATCH_FILE)


def _reused(upload: Upload) -> ApiError:
    size = "no size" if upload.file_size is None else f"{upload.file_size} bytes"
    kind = "a single PUT" if upload.single else "a multipart upload"
    return ApiError(
        ErrorType.CONFLICT,
        f"this clientToken already started {kind} of {upload.file_key!r} ({size}) as fileId "
        f"{upload.upload_id}: use a new clientToken for another file",
        reason=Reason.CLIENT_TOKEN_REUSED,
    )


def _same_file(upload: Upload, wanted: FileRequest) -> bool:
    return (upload.file_key, upload.file_size, upload.single) == (wanted.key, wanted.file_size, wanted.single)


def _single_claim_seconds(services: Services) -> float:
    """A single PUT holds its key while its URL may still be used."""
    return services.config.url_expiry + CLAIM_SLACK_SECONDS


class _Starter:
    """One call's starts: the services, the caller, and the undo list if recording fails."""

    def __init__(self, services: Services, who: Caller) -> None:
        self.services = services
        self.who = who
        self.core_only = services.config.core_only
        self._ahead: Sequence[str] = ()  # the keys to list on the first question (see `look_ahead`)
        self._listing = threading.Lock()
        self.listed: dict[str, Listed] | None = None

    def look_ahead(self, keys: Sequence[str]) -> None:
        """List which of many keys hold an object, in one call where HEADs would take one each: when
        the first of them is asked about (a key the caller owns, or overwrites, is never asked)."""
        if len(keys) >= 2 and not self.core_only:
            self._ahead = keys

    def exists(self, key: str) -> bool:
        with self._listing:
            if self._ahead:
                keys, self._ahead = self._ahead, ()
                self.listed = list_existing(
                    self.services.s3,
                    self.services.bucket,
                    keys,
                    max_pages=max(1, len(keys) // LIST_PAGES_PER_KEYS),
                )
        if self.listed is not None:
            return key in self.listed
        return object_exists(self.services.s3, self.services.bucket, key)

    def claim(self, upload_id: str, wanted: FileRequest, **current: Any) -> None:
        claim_key(
            self.services.files,
            wanted.key,
            principal=self.who.principal,
            organization_id=self.who.organization_id,
            upload_id=upload_id,
            overwrite=wanted.overwrite,
            holds_for=_single_claim_seconds(self.services),
            object_exists=lambda: self.exists(wanted.key),
            **current,
        )

    def replay(self, upload: Upload, wanted: FileRequest) -> Started:
        """The upload an earlier call started with this file's clientToken."""
        if not _same_file(upload, wanted):
            raise _reused(upload)
        if upload.single and upload.state is UploadState.UPLOADING and not self.core_only:
            self.claim(upload.upload_id, wanted)  # its URL is signed again: hold the key as long
        return Started(upload, replayed=True)

    def check(self, wanted: FileRequest, current: Any) -> None:
        """Refuse a new multipart upload at a key it could not finish on (a single PUT claims it)."""
        if self.core_only or wanted.single:
            return
        check_writable(
            current,
            wanted.key,
            upload_id="",
            organization_id=self.who.organization_id,
            overwrite=wanted.overwrite,
            object_exists=lambda: self.exists(wanted.key),
            now=time.time(),
        )

    def begin(self, number: int, wanted: FileRequest, current: Any) -> NewUpload:
        """Start one file in S3 (multipart) or claim its key (single); the record to write."""
        services = self.services
        if wanted.single:
            upload_id = SINGLE_ID_PREFIX + secrets.token_hex(16)
            if not self.core_only:
                self.claim(upload_id, wanted, current=current, known=True)
        else:
            headers = ObjectHeaders(
                wanted.content_type, content_disposition(wanted.content_type), str(number)
            )
            upload_id = start_upload(services.s3, services.bucket, wanted.key, headers)
        return NewUpload(
            upload_id=upload_id,
            file_key=wanted.key,
            principal=self.who.principal,
            organization_id=self.who.organization_id,
            request_json=wanted.request_json,
            content_type=wanted.content_type,
            file_size=wanted.file_size,
            single=wanted.single,
            overwrite=wanted.overwrite,
            client_token=wanted.client_token,
        )

    def undo(self, new: NewUpload) -> None:
        """Take back what `begin` did for a file that was not recorded."""
        services = self.services
        if new.single:
            if not self.core_only:
                release_claim(services.files, new.file_key, new.upload_id)
        else:
            try:
                abort_upload(services.s3, services.bucket, new.file_key, new.upload_id)
            except ApiError as error:
                if error.type is not ErrorType.NOT_FOUND:
                    raise


def _attempt(function: Any, *args: Any) -> Any:
    """`function(*args)`, or the `ApiError` it raised (one file's refusal, in its place)."""
    try:
        return function(*args)
    except ApiError as error:
        return error


def start_files(
    services: Services, who: Caller, files: Sequence[FileRequest | ApiError]
) -> list[Started | ApiError]:
    """Start every file that is not already an error; one result per file, in order."""
    starter = _Starter(services, who)
    results: list[Started | ApiError | None] = [f if isinstance(f, ApiError) else None for f in files]
    wanted = [(i, f) for i, f in enumerate(files) if isinstance(f, FileRequest)]
    tokens = [f.client_token for _, f in wanted if f.client_token]
    replays = services.files.find_client_tokens(who.principal, who.organization_id, tokens) if tokens else {}
    fresh: list[tuple[int, FileRequest]] = []
    for index, file in wanted:
        earlier = replays.get(file.client_token) if file.client_token else None
        if earlier is None:
            fresh.append((index, file))
        else:
            results[index] = _attempt(starter.replay, earlier, file)

    records = {} if starter.core_only else services.files.get_publications([f.key for _, f in fresh])
    starter.look_ahead([f.key for _, f in fresh])
    workers = services.config.concurrency
    checked = parallel_map(
        lambda item: _attempt(starter.check, item[1], records.get(item[1].key)), fresh, workers=workers
    )
    startable = []
    for (index, file), refusal in zip(fresh, checked, strict=True):
        if refusal is None:
            startable.append((index, file))
        else:
            results[index] = refusal
    if startable:
        first = services.files.reserve_numbers(len(startable))
        numbered = [(first + n, index, file) for n, (index, file) in enumerate(startable)]
        begun = parallel_map(
            lambda item: _attempt(starter.begin, item[0], item[2], records.get(item[2].key)),
            numbered,
            workers=workers,
        )
        entries = []
        for (number, index, _file), outcome in zip(numbered, begun, strict=True):
            if isinstance(outcome, ApiError):
                results[index] = outcome
            else:
                entries.append((number, index, outcome))
        _record(starter, entries, results, files)
    done = [result for result in results if result is not None]
    if len(done) != len(files):
        raise RuntimeError("a file was left without a result")
    return done


def _record(
    starter: _Starter,
    entries: list[tuple[int, int, NewUpload]],
    results: list[Started | ApiError | None],
    files: Sequence[FileRequest | ApiError],
) -> None:
    """Record what was begun; a file whose clientToken another call recorded first gets that upload."""
    try:
        recorded = starter.services.files.record_many([(number, new) for number, _, new in entries])
    except Exception:
        for _, _, new in entries:  # leave no upload or claim the table does not know
            starter.undo(new)
        raise
    for (_, index, new), outcome in zip(entries, recorded, strict=True):
        if outcome.created:
            results[index] = Started(outcome.upload)
            continue
        starter.undo(new)
        wanted = files[index]
        assert isinstance(wanted, FileRequest)
        results[index] = _attempt(starter.replay, outcome.upload, wanted)
