"""`POST /initializeBatch`: start 1-100 files in one call, each a multipart upload or a single PUT.

Body: `{"files": [<file>, ...]}`, each an `/initialize` body with a required `clientToken` and
either `"single": true` (one presigned PutObject; `fileSize` required, at most 5 GiB) or
`"parts": N` (0-100 part URLs signed now). Answer: `{"files": [...]}` in request order, one entry
per file: `{"clientToken", "fileId", "fileKey", "expiresIn", "putUrl", "headers"}` (single),
`{"clientToken", "fileId", "fileKey", "expiresIn", "parts", "partsExpireAt"}` (multipart), or
`{"clientToken", "error": {"message", "statusCode", "type"[, "reason"]}}`. At most
`URLS_PER_CALL` (1,000) URLs in all: single files first, then parts in order, as long as they last
(each entry's `parts` says which were signed). An upload already finished or aborted answers
without URLs and with its `"state"`.
"""

from __future__ import annotations

from typing import Any

from backend.access import required_caller
from backend.apigw import ApiError, ApiRequest
from backend.batches import batch_entries, entry_object, error_entry
from backend.files import Upload, UploadState
from backend.limits import URLS_PER_CALL
from backend.runtime import Services, body_limit, lambda_handler
from backend.s3 import ObjectHeaders, parts_expire_at, presign_parts, presign_put
from backend.serving import content_disposition
from backend.starting import FileRequest, parse_file, start_files

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Well under Lambda's 6 MB request limit: 100 files of ~40 KB metadata each."""


class _Signer:
    """Signs the answer's URLs while the per-answer budget lasts."""

    def __init__(self, services: Services, budget: int) -> None:
        self.services = services
        self.budget = budget
        self.expiry = services.config.url_expiry

    def single(self, upload: Upload) -> dict[str, Any]:
        services = self.services
        headers = ObjectHeaders(
            upload.content_type, content_disposition(upload.content_type), str(upload.file_number)
        )
        url, sent = presign_put(
            services.presigner,
            services.bucket,
            upload.file_key,
            headers,
            upload.file_size or 0,
            only_if_absent=not upload.overwrite and not services.config.core_only,
            expires_in=self.expiry,
        )
        return {"putUrl": url, "headers": sent}

    def multipart(self, upload: Upload, wanted: int) -> dict[str, Any]:
        count = min(wanted, self.budget)
        self.budget -= count
        services = self.services
        parts = presign_parts(
            services.presigner,
            services.bucket,
            upload.file_key,
            upload.upload_id,
            range(1, count + 1),
            self.expiry,
        )
        return {
            "parts": parts,
            "partsExpireAt": parts_expire_at(upload.created_at, services.config.parts_kept_days),
        }


def _entry(upload: Upload, wanted: FileRequest, signer: _Signer) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "clientToken": wanted.client_token,
        "fileId": upload.upload_id,
        "fileKey": upload.file_key,
        "expiresIn": signer.expiry,
    }
    if upload.state is not UploadState.UPLOADING:
        entry["state"] = upload.state.value
        return entry
    entry.update(signer.single(upload) if upload.single else signer.multipart(upload, wanted.parts))
    return entry


@body_limit(MAX_BODY_BYTES)
def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Start the caller's files; each file's refusal is its own entry."""
    who = required_caller(request, services)
    raw = batch_entries(request.json)
    wanted: list[FileRequest | ApiError] = []
    for entry in raw:
        try:
            wanted.append(parse_file(entry_object(entry), who, services, batch=True))
        except ApiError as error:
            wanted.append(error)
    started = start_files(services, who, wanted)
    singles = sum(isinstance(u, Upload) and u.single and u.state is UploadState.UPLOADING for u in started)
    signer = _Signer(services, URLS_PER_CALL - singles)
    files = []
    for entry, file, outcome in zip(raw, wanted, started, strict=True):
        if isinstance(outcome, ApiError):
            files.append(error_entry(entry, "clientToken", outcome))
        else:
            assert isinstance(file, FileRequest)
            files.append(_entry(outcome, file, signer))
    return {"files": files}


handler = lambda_handler(handle)
