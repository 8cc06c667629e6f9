"""The CloudFront stand-in: `GET`/`HEAD <base>/cdn/<key>` serves an object as CloudFront does.

Answers carry the object's `Content-Type`, `Content-Length`, `ETag`, `Last-Modified`, the headers
S3 keeps with it (`Content-Disposition`, set to `attachment` at upload for types a browser would
run, `Cache-Control`, ...) and `Accept-Ranges: bytes`, plus what the distribution's response
headers policy adds to every answer (`CDN_RESPONSE_HEADERS`: `X-Content-Type-Options: nosniff`,
...). One `Range: bytes=…` gets `206` with `Content-Range`, an unsatisfiable one `416`; a
malformed or multi-range header is ignored (the whole object, as S3 does).
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import format_datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from backend.serving import CDN_RESPONSE_HEADERS

CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class UnsatisfiableRangeError(ValueError):
    pass


@dataclass(frozen=True)
class CdnAnswer:
    status: int
    headers: dict[str, str]
    body: Iterator[bytes] = field(default_factory=lambda: iter(()))


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range asked for, None to send everything; raises `UnsatisfiableRangeError`."""
    match = _RANGE.match((header or "").strip().replace(" ", ""))
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise UnsatisfiableRangeError(header)
        return max(0, size - count), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None  # syntactically invalid: ignored, as RFC 9110 says
    if start >= size:
        raise UnsatisfiableRangeError(header)
    return start, end


def _not_found(key: str) -> CdnAnswer:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
        f"<Message>The specified key does not exist.</Message><Key>{_xml(key)}</Key></Error>"
    ).encode()
    headers = {
        **_cloudfront_headers("Error"),
        "Content-Type": "application/xml",
        "Content-Length": str(len(body)),
    }
    return CdnAnswer(404, headers, iter([body]))


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cloudfront_headers(cache: str) -> dict[str, str]:
    """What CloudFront adds to every answer: the response headers policy and its own tracing."""
    return {
        **CDN_RESPONSE_HEADERS,
        "X-Cache": f"{cache} from cloudfront",
        "Via": "1.1 local.cloudfront.net (CloudFront)",
        "X-Amz-Cf-Id": base64.urlsafe_b64encode(secrets.token_bytes(42)).decode(),
    }


@dataclass(frozen=True)
class ObjectInfo:
    """An object's size and the headers S3 sends with it (Content-Type, ETag, Last-Modified, ...)."""

    size: int
    headers: dict[str, str]


class ObjectSource(Protocol):
    def head(self, key: str) -> ObjectInfo | None: ...

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]: ...


class ClientSource:
    """Objects of a bucket on any S3 endpoint, through a boto3 client."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3, self._bucket = s3, bucket

    def head(self, key: str) -> ObjectInfo | None:
        try:
            meta = self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        headers = {
            "Content-Type": meta.get("ContentType") or "binary/octet-stream",
            "ETag": meta.get("ETag", ""),
        }
        if meta.get("LastModified") is not None:
            headers["Last-Modified"] = format_datetime(meta["LastModified"].astimezone(UTC), usegmt=True)
        for field_name, header in _PASSED_ON.items():
            if meta.get(field_name):
                headers[header] = str(meta[field_name])
        headers.update({f"x-amz-meta-{k}": v for k, v in (meta.get("Metadata") or {}).items()})
        return ObjectInfo(int(meta["ContentLength"]), headers)

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        obj = self._s3.get_object(Bucket=self._bucket, Key=key, Range=f"bytes={start}-{end}")
        return obj["Body"].iter_chunks(CHUNK)


_PASSED_ON = {
    "ContentDisposition": "Content-Disposition",
    "ContentEncoding": "Content-Encoding",
    "ContentLanguage": "Content-Language",
    "CacheControl": "Cache-Control",
}


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


def fetch(source: ObjectSource, key: str, range_header: str | None, *, head: bool) -> CdnAnswer:
    """Answer a CDN request for `key`, as CloudFront in front of the bucket does."""
    info = source.head(key)
    if info is None:
        return _not_found(key)
    size = info.size
    headers = {**info.headers, "Accept-Ranges": "bytes", **_cloudfront_headers("Miss")}
    try:
        wanted = parse_range(range_header, size)
    except UnsatisfiableRangeError:
        return CdnAnswer(416, {**headers, "Content-Range": f"bytes */{size}", "Content-Length": "0"})
    status = 200 if wanted is None else 206
    start, end = wanted if wanted is not None else (0, size - 1)
    headers["Content-Length"] = str(end - start + 1 if size else 0)
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if head or size == 0:
        return CdnAnswer(status, headers)
    return CdnAnswer(status, headers, source.read(key, start, end))
