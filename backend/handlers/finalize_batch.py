"""`POST /finalizeBatch`: finish 1-100 uploads in one call.

Body: `{"files": [{"fileId", "fileKey", "parts": [...]} | {"fileId", "fileKey"}, ...]}` (`parts`
for multipart files, as for `/finalize`; none for single ones); at most `MAX_PARTS_PER_CALL`
parts in all. Each object is checked (it exists, its size is the `fileSize` given at the start)
before it is recorded finished. Answer: `{"files": [{"fileId", "imagePath", "url", "size",
"etag"} | {"fileId", "error": {...}}]}` in request order. Idempotent: a finished file answers as
the first time did.
"""

from __future__ import annotations

from typing import Any

from backend.access import caller, check_owner, upload_ids
from backend.apigw import ApiError, ApiRequest, bad_request
from backend.batches import batch_entries, entry_object, error_entry
from backend.concurrency import parallel_map
from backend.files import Upload
from backend.finishing import Finisher, finish_answer, requested_parts
from backend.limits import PARTS_PER_FINALIZE_BATCH
from backend.runtime import Services, body_limit, lambda_handler

MAX_BODY_BYTES = 4 * 1024 * 1024


def _parse(entry: Any) -> tuple[str, str, list[tuple[int, str]] | None]:
    entry = entry_object(entry)
    upload_id, file_key = upload_ids(entry)
    return upload_id, file_key, requested_parts(entry) if "parts" in entry else None


@body_limit(MAX_BODY_BYTES)
def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Finish the caller's uploads; each file's refusal is its own entry."""
    who = caller(request, services)
    raw = batch_entries(request.json)
    parsed: list[tuple[str, str, list[tuple[int, str]] | None] | ApiError] = []
    for entry in raw:
        try:
            parsed.append(_parse(entry))
        except ApiError as error:
            parsed.append(error)
    total = sum(len(p[2] or ()) for p in parsed if not isinstance(p, ApiError))
    if total > PARTS_PER_FINALIZE_BATCH:
        raise bad_request(
            f"the files list {total} parts in all; finish at most {PARTS_PER_FINALIZE_BATCH} per call "
            "(finish large files one at a time with /finalize)"
        )
    found = services.files.find_many([p[0] for p in parsed if not isinstance(p, ApiError)])
    targets: list[tuple[Upload, list[tuple[int, str]] | None] | ApiError] = []
    for item in parsed:
        try:
            if isinstance(item, ApiError):
                raise item
            upload_id, file_key, parts = item
            targets.append((check_owner(found.get(upload_id), upload_id, file_key, who), parts))
        except ApiError as error:
            targets.append(error)
    keys = frozenset(t[0].file_key for t in targets if not isinstance(t, ApiError))
    finisher = Finisher(services)
    if not services.config.core_only:
        finisher = Finisher(services, services.files.get_publications(sorted(keys)), keys)

    def finish(target: tuple[Upload, list[tuple[int, str]] | None] | ApiError) -> dict[str, Any] | ApiError:
        if isinstance(target, ApiError):
            return target
        try:
            done = finisher.finish(*target)
        except ApiError as error:
            return error
        return {"fileId": done.upload_id, **finish_answer(done, services), "etag": done.etag}

    files = []
    for entry, outcome in zip(raw, parallel_map(finish, targets), strict=True):
        if isinstance(outcome, ApiError):
            files.append(error_entry(entry, "fileId", outcome))
        else:
            files.append(outcome)
    return {"files": files}


handler = lambda_handler(handle)
