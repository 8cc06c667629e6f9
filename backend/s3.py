"""boto3 S3 clients, presigning and the multipart calls the handlers make.

Callers may rely on: presigned URLs are SigV4 and sign one `UploadPart` each, with nothing but
the part number and upload id in them (no `x-amz-checksum-*` / `x-amz-sdk-checksum-algorithm`,
which boto3 ≥ 1.36 adds by default); S3 errors a client caused come back as `ApiError` (4xx).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from backend.apigw import ApiError, ErrorType, bad_request

MAX_PARTS = 10_000
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024**3
MAX_OBJECT_SIZE = 5 * 1024**4
LIST_PAGE_SIZE = 1000
# botocore ≥ 1.36 adds checksum parameters to requests and presigned URLs unless told to do so only
# when an operation requires it; older versions (e.g. one bundled with a Lambda runtime) lack both
# the behaviour and the options, so the options are passed only where they exist.
_CHECKSUMS_WHEN_REQUIRED = {
    name: "when_required"
    for name in ("request_checksum_calculation", "response_checksum_validation")
    if name in BotoConfig.OPTION_DEFAULTS
}


def client_config(*, local: bool, accelerate: bool = False) -> BotoConfig:
    """SigV4 always; path-style URLs for local endpoints, virtual-hosted (or accelerated) on AWS."""
    s3: dict[str, Any] = {"addressing_style": "path" if local else "virtual"}
    if accelerate and not local:
        s3["use_accelerate_endpoint"] = True
    return BotoConfig(
        signature_version="s3v4",
        s3=s3,
        retries={"max_attempts": 3, "mode": "standard"},
        **_CHECKSUMS_WHEN_REQUIRED,
    )


@dataclass(frozen=True)
class Part:
    """One uploaded part as S3 lists it."""

    number: int
    etag: str
    size: int


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _not_found(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error_code(exc) in ("404", "NoSuchKey", "NotFound") or status == 404


def _client_error(exc: ClientError, upload_id: str) -> ApiError | None:
    """The 4xx a client caused, or None when the failure is the server's."""
    code = error_code(exc)
    if code == "NoSuchUpload":
        return ApiError(
            ErrorType.NOT_FOUND,
            f"S3 has no upload {upload_id}: it was finished, aborted or expired; start a new one",
        )
    if code == "InvalidPart":
        return bad_request(
            "S3 does not have a part with that number and ETag: check each part's ETag "
            "(ask /listParts for the ones S3 has) and re-send missing parts"
        )
    if code == "InvalidPartOrder":
        return bad_request("the parts must be listed in increasing PartNumber order")
    if code == "EntityTooSmall":
        return bad_request(
            f"every part but the last must be at least {MIN_PART_SIZE} bytes (5 MiB); "
            "upload again with larger parts"
        )
    return None


def _raise_mapped(exc: ClientError, upload_id: str) -> NoReturn:
    mapped = _client_error(exc, upload_id)
    if mapped is not None:
        raise mapped from None
    raise exc


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _not_found(exc):
            return False
        raise
    return True


def object_size(s3: Any, bucket: str, key: str) -> int:
    return int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])


def start_upload(s3: Any, bucket: str, key: str, content_type: str) -> str:
    """Start a multipart upload and return its UploadId."""
    return str(s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"])


def presign_parts(
    presigner: Any, bucket: str, key: str, upload_id: str, numbers: Iterable[int], expires_in: int
) -> list[dict[str, Any]]:
    """`[{"signedUrl", "PartNumber"}]`, one presigned `UploadPart` URL per part number."""
    return [
        {
            "signedUrl": presigner.generate_presigned_url(
                "upload_part",
                Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number},
                ExpiresIn=expires_in,
            ),
            "PartNumber": number,
        }
        for number in numbers
    ]


def complete_upload(s3: Any, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
    """Complete the upload from `(PartNumber, ETag)` pairs; client mistakes raise `ApiError`."""
    try:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
        )
    except ClientError as exc:
        _raise_mapped(exc, upload_id)


def list_parts(s3: Any, bucket: str, key: str, upload_id: str, page_size: int = LIST_PAGE_SIZE) -> list[Part]:
    """Every uploaded part, following S3's pages."""
    parts: list[Part] = []
    marker = 0
    try:
        while True:
            page = s3.list_parts(
                Bucket=bucket, Key=key, UploadId=upload_id, MaxParts=page_size, PartNumberMarker=marker
            )
            parts.extend(
                Part(int(p["PartNumber"]), str(p["ETag"]), int(p["Size"])) for p in page.get("Parts", [])
            )
            if not page.get("IsTruncated"):
                return parts
            marker = int(page["NextPartNumberMarker"])
    except ClientError as exc:
        _raise_mapped(exc, upload_id)


def abort_upload(s3: Any, bucket: str, key: str, upload_id: str) -> None:
    """Abort the upload; S3 deletes its parts."""
    try:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        _raise_mapped(exc, upload_id)
