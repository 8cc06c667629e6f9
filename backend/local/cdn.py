"""The CloudFront stand-in: `GET`/`HEAD <base>/cdn/<key>` serves an object as CloudFront does.

Answers carry the object's `Content-Type`, `Content-Length`, `ETag`, `Last-Modified` and
`Accept-Ranges: bytes`; one `Range: bytes=…` gets `206` with `Content-Range`, an unsatisfiable
one `416`; a malformed or multi-range header is ignored (the whole object, as S3 does).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from botocore.exceptions import ClientError

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
    return CdnAnswer(404, {"Content-Type": "application/xml", "Content-Length": str(len(body))}, iter([body]))


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


def fetch(s3: Any, bucket: str, key: str, range_header: str | None, *, head: bool) -> CdnAnswer:
    """Answer a CDN request for `key` from the bucket."""
    try:
        meta = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _missing(exc):
            return _not_found(key)
        raise
    size = int(meta["ContentLength"])
    headers = {
        "Content-Type": meta.get("ContentType") or "application/octet-stream",
        "ETag": meta.get("ETag", ""),
        "Accept-Ranges": "bytes",
    }
    if meta.get("LastModified") is not None:
        headers["Last-Modified"] = format_datetime(meta["LastModified"].astimezone(UTC), usegmt=True)
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
    try:
        obj = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")
    except ClientError as exc:
        if _missing(exc):
            return _not_found(key)
        raise
    return CdnAnswer(status, headers, obj["Body"].iter_chunks(CHUNK))
