"""In-process helpers for route tests: start, send and finish files as a client would."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import requests

from backend.apigw import Caller
from backend.handlers import finalize, finalize_batch, initialize, initialize_batch
from backend.runtime import Services
from tests.backend.support import ALICE, UNIT_BUCKET, Reply, seed_body

Call = Callable[..., Reply]


def client_token() -> str:
    return str(uuid.uuid4())


def batch_file(key: str, token: str | None = None, **extra: Any) -> dict[str, Any]:
    """One `/initializeBatch` entry: the seed's body with a clientToken and extension fields."""
    return seed_body(key, clientToken=token or client_token(), **extra)


def start(call: Call, key: str = "dir/file.bin", caller: Caller = ALICE, **extra: Any) -> dict[str, str]:
    """`/initialize` → `{"fileId", "fileKey"}` (asserting 200)."""
    reply = call(initialize.handle, seed_body(key, **extra), caller=caller)
    assert reply.status == 200, reply.body
    return {"fileId": reply.body["fileId"], "fileKey": reply.body["fileKey"]}


def start_batch(call: Call, *files: dict[str, Any], caller: Caller = ALICE) -> list[dict[str, Any]]:
    reply = call(initialize_batch.handle, {"files": list(files)}, caller=caller)
    assert reply.status == 200, reply.body
    return list(reply.body["files"])


def put_single(entry: dict[str, Any], data: bytes) -> requests.Response:
    """PUT a single file to its presigned URL with exactly the headers the answer gave."""
    return requests.put(entry["putUrl"], data=data, headers=entry["headers"], timeout=30)


def put_parts(services: Services, ids: dict[str, str], chunks: list[bytes]) -> list[dict[str, Any]]:
    """Upload parts 1..N straight to S3; the `[{"PartNumber", "ETag"}]` to finish with."""
    parts = []
    for number, chunk in enumerate(chunks, 1):
        answer = services.s3.upload_part(
            Bucket=UNIT_BUCKET, Key=ids["fileKey"], UploadId=ids["fileId"], PartNumber=number, Body=chunk
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    return parts


def finish(call: Call, ids: dict[str, str], parts: list[dict[str, Any]], caller: Caller = ALICE) -> Reply:
    return call(finalize.handle, {**ids, "parts": parts}, caller=caller)


def finish_batch(call: Call, *entries: dict[str, Any], caller: Caller = ALICE) -> list[dict[str, Any]]:
    reply = call(finalize_batch.handle, {"files": list(entries)}, caller=caller)
    assert reply.status == 200, reply.body
    return list(reply.body["files"])


def ids_of(entry: dict[str, Any]) -> dict[str, str]:
    return {"fileId": entry["fileId"], "fileKey": entry["fileKey"]}


def stored(services: Services, key: str) -> bytes | None:
    """The object's bytes, or None when there is none."""
    try:
        return bytes(services.s3.get_object(Bucket=UNIT_BUCKET, Key=key)["Body"].read())
    except services.s3.exceptions.NoSuchKey:
        return None


def multipart_uploads(services: Services) -> list[tuple[str, str]]:
    answer = services.s3.list_multipart_uploads(Bucket=UNIT_BUCKET)
    return sorted((u["Key"], u["UploadId"]) for u in answer.get("Uploads", []))
