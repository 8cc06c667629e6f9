"""boto3 S3 clients, presigning and the multipart calls the handlers make.

Callers may rely on: presigned URLs are SigV4 and sign one `UploadPart` each, with nothing but
the part number and upload id in them (no `x-amz-checksum-*` / `x-amz-sdk-checksum-algorithm`,
which boto3 ≥ 1.36 adds by default); S3 errors a client caused come back as `ApiError` (4xx).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from backend.apigw import ApiError, ErrorType, Reason, bad_request

MAX_PARTS = 10_000
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024**3
MAX_OBJECT_SIZE = 5 * 1024**4
MAX_SINGLE_PUT_SIZE = 5 * 1024**3
LIST_PAGE_SIZE = 1000
MARKER = "s3up-file"
"""User metadata (`x-amz-meta-s3up-file`) naming the upload number that wrote an object."""
# botocore ≥ 1.36 adds checksum parameters to requests and presigned URLs unless told to do so only
# when an operation requires it; older versions (e.g. one bundled with a Lambda runtime) lack both
# the behaviour and the options, so the options are passed only where they exist.
_CHECKSUMS_WHEN_REQUIRED = {
    name: "when_required"
    for name in ("request_checksum_calculation", "response_checksum_validation")
    if name in BotoConfig.OPTION_DEFAULTS
}


def parts_expire_at(created_at: str, days: int) -> str:
    """When the bucket's lifecycle rule aborts a multipart upload started at `created_at` (ISO 8601).

    S3 adds the days to the upload's start and rounds up to the next midnight UTC.
    """
    started = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    deadline = started + timedelta(days=days)
    midnight = deadline.replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight < deadline:
        midnight += timedelta(days=1)
    return midnight.strftime("%Y-%m-%dT%H:%M:%SZ")


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
class StoredObject:
    """An object as HEAD describes it."""

    size: int
    etag: str
    marker: str | None
    """The upload number that wrote it (`MARKER` metadata), if this API wrote it."""
    version_id: str | None = None


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
    if code == "PreconditionFailed":
        return ApiError(
            ErrorType.CONFLICT,
            "an object was published at this key while the upload was under way; nothing was replaced: "
            'start again with "overwrite": true to replace it, or choose another key',
            reason=Reason.KEY_EXISTS,
        )
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


def head_object(s3: Any, bucket: str, key: str) -> StoredObject | None:
    """The object at `key`, or None when there is none."""
    try:
        answer = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise
    # Some S3 servers hand metadata names back capitalised.
    metadata = {str(k).lower(): str(v) for k, v in (answer.get("Metadata") or {}).items()}
    return StoredObject(
        size=int(answer["ContentLength"]),
        etag=str(answer.get("ETag", "")),
        marker=metadata.get(MARKER),
        version_id=answer.get("VersionId"),
    )


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    return head_object(s3, bucket, key) is not None


@dataclass(frozen=True)
class ObjectHeaders:
    """What an object is stored with: set at the start of its upload, kept by S3."""

    content_type: str
    disposition: str | None
    marker: str

    def params(self) -> dict[str, Any]:
        """The boto3 parameters of CreateMultipartUpload / PutObject that set them."""
        params: dict[str, Any] = {"ContentType": self.content_type, "Metadata": {MARKER: self.marker}}
        if self.disposition:
            params["ContentDisposition"] = self.disposition
        return params


def start_upload(s3: Any, bucket: str, key: str, headers: ObjectHeaders) -> str:
    """Start a multipart upload and return its UploadId."""
    return str(s3.create_multipart_upload(Bucket=bucket, Key=key, **headers.params())["UploadId"])


def presign_put(
    presigner: Any,
    bucket: str,
    key: str,
    headers: ObjectHeaders,
    size: int,
    *,
    only_if_absent: bool,
    expires_in: int,
) -> tuple[str, dict[str, str]]:
    """A presigned `PutObject` URL and the exact headers the client must send with it.

    The size is signed (a body of another length is refused by S3), and so are the type, the
    disposition, the marker and, with `only_if_absent`, `If-None-Match: *` (S3 then refuses to
    replace an object that appeared meanwhile).
    """
    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "ContentLength": size, **headers.params()}
    sent = {
        "Content-Type": headers.content_type,
        "Content-Length": str(size),
        f"x-amz-meta-{MARKER}": headers.marker,
    }
    if headers.disposition:
        sent["Content-Disposition"] = headers.disposition
    if only_if_absent:
        params["IfNoneMatch"] = "*"
        sent["If-None-Match"] = "*"
    url = presigner.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
    return str(url), sent


def delete_version(s3: Any, bucket: str, key: str, version_id: str | None) -> None:
    """Delete one version of an object (on a versioned bucket the one before becomes current again)."""
    if version_id:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
    else:
        s3.delete_object(Bucket=bucket, Key=key)


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


def complete_upload(
    s3: Any,
    bucket: str,
    key: str,
    upload_id: str,
    parts: list[tuple[int, str]],
    *,
    only_if_absent: bool = False,
) -> str:
    """Complete the upload from `(PartNumber, ETag)` pairs and return the object's ETag.

    With `only_if_absent`, S3 completes only if no object exists at the key (`If-None-Match: *`),
    atomically; a refusal is a 409. Client mistakes raise `ApiError`.
    """
    condition = {"IfNoneMatch": "*"} if only_if_absent else {}
    try:
        answer = s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
            **condition,
        )
    except ClientError as exc:
        _raise_mapped(exc, upload_id)
    return str(answer.get("ETag", ""))


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
