"""The embedded S3 server's requests: path-style S3 REST over `S3Store`, every request SigV4-checked.

Operations: ListBuckets; Create/Head/DeleteBucket; ListObjects(V2); ListMultipartUploads;
DeleteObjects; Put/Get/Head/DeleteObject (Range, Content-MD5, `If-None-Match: *`, `If-Match`);
Create/Complete/AbortMultipartUpload, UploadPart, ListParts. Errors are S3's XML answers.
Payloads: signed (hex SHA-256, checked), `UNSIGNED-PAYLOAD` (presigned URLs) and `aws-chunked`
streaming (decoded; the chunk signatures themselves are not checked).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from typing import BinaryIO
from urllib.parse import unquote

from backend.local.cdn import ObjectInfo, UnsatisfiableRangeError, parse_range
from backend.local.s3 import sigv4, xml
from backend.local.s3.errors import S3Error
from backend.local.s3.store import Blob, S3Store, StoredObject

log = logging.getLogger(__name__)

MAX_PART_NUMBER = 10_000
MAX_PUT_SIZE = 5 * 1024**3
STORED_HEADERS = (
    "content-type",
    "content-disposition",
    "content-encoding",
    "content-language",
    "cache-control",
    "expires",
)


@dataclass
class S3Request:
    method: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: dict[str, list[str]]  # lower-cased names
    body: BinaryIO
    host: str = ""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)

    def has(self, name: str) -> bool:
        return any(k == name for k, _ in self.query)


@dataclass
class S3Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Iterable[bytes] = ()
    length: int | None = None  # Content-Length when `body` streams; None: len(b"".join(body))


def parse_query(query: str) -> list[tuple[str, str]]:
    """Query pairs decoded once (a `+` stays a `+`, as S3 reads it)."""
    pairs = []
    for item in query.split("&") if query else []:
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


class _ChunkedReader:
    """Reads an `aws-chunked` body: `size[;chunk-signature=…]` lines, data, … `0`, trailers."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._left = 0
        self._done = False

    def read(self, size: int) -> bytes:
        if self._left == 0 and not self._done:
            if self._started:
                self._source.readline(64)  # the CRLF after the previous chunk
            line = self._source.readline(1024)
            try:
                self._left = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise S3Error("IncompleteBody", "The aws-chunked body is malformed.") from None
            self._started = True
            if self._left == 0:
                while self._source.readline(4096) not in (b"\r\n", b"\n", b""):
                    pass  # trailing checksum headers
                self._done = True
        if self._done:
            return b""
        chunk = self._source.read(min(size, self._left))
        self._left -= len(chunk)
        return chunk

    _started = False


def _http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


class S3Service:
    """Answers S3 requests from one store, for the given access keys (id → secret)."""

    def __init__(
        self, store: S3Store, credentials: dict[str, str], clock: Callable[[], datetime] | None = None
    ) -> None:
        self.store = store
        self.credentials = credentials
        self._clock = clock or (lambda: datetime.now(UTC))

    def handle(self, request: S3Request) -> S3Answer:
        request_id = secrets.token_hex(8).upper()
        try:
            answer = self._dispatch(request)
        except S3Error as error:
            body = b"" if request.method == "HEAD" else error.xml(request_id)
            answer = S3Answer(error.status, {"Content-Type": "application/xml"}, [body], len(body))
        answer.headers.setdefault("x-amz-request-id", request_id)
        answer.headers.setdefault("x-amz-id-2", base64.b64encode(secrets.token_bytes(24)).decode())
        answer.headers.setdefault("Server", "AmazonS3")
        return answer

    # ---- request plumbing ------------------------------------------------------------------
    def _dispatch(self, request: S3Request) -> S3Answer:
        signed = sigv4.SignedRequest(request.method, request.raw_path, request.query, request.headers)
        payload_hash = sigv4.verify(signed, self.credentials, self._clock())
        bucket, _, key = request.raw_path.lstrip("/").partition("/")
        bucket, key = unquote(bucket), unquote(key)
        if not bucket:
            if request.method != "GET":
                raise S3Error(
                    "MethodNotAllowed", "The specified method is not allowed against this resource."
                )
            return self._xml(xml.buckets(self.store.buckets()))
        reader = self._body_reader(request, payload_hash)
        if not key:
            return self._bucket_request(request, bucket, reader)
        return self._object_request(request, bucket, key, reader)

    def _body_reader(self, request: S3Request, payload_hash: str) -> _Body:
        if payload_hash.startswith("STREAMING-"):
            decoded = request.header("x-amz-decoded-content-length")
            if decoded is None or not decoded.isdigit():
                raise S3Error(
                    "MissingContentLength",
                    "You must provide the x-amz-decoded-content-length header.",
                    status=411,
                )
            return _Body(_ChunkedReader(request.body), int(decoded), None)
        length = request.header("content-length")
        if length is not None and not length.isdigit():
            raise S3Error("InvalidArgument", "Content-Length is not a number.")
        expected = None if payload_hash == sigv4.UNSIGNED else payload_hash.lower()
        return _Body(request.body, int(length or 0), expected)

    @staticmethod
    def _xml(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> S3Answer:
        return S3Answer(status, {"Content-Type": "application/xml", **(headers or {})}, [body], len(body))

    # ---- buckets ---------------------------------------------------------------------------
    def _bucket_request(self, request: S3Request, bucket: str, body: _Body) -> S3Answer:
        method = request.method
        if method == "PUT":
            body.read_all()
            if not 3 <= len(bucket) <= 63 or bucket in ("prod", "cdn"):
                raise S3Error("InvalidBucketName", "The specified bucket is not valid.", resource=bucket)
            self.store.create_bucket(bucket)
            return S3Answer(200, {"Location": f"/{bucket}", "Content-Length": "0"}, [b""], 0)
        if method == "HEAD":
            if not self.store.has_bucket(bucket):
                raise S3Error("NoSuchBucket", "The specified bucket does not exist", resource=bucket)
            return S3Answer(200, {}, [b""], 0)
        if method == "DELETE":
            self.store.delete_bucket(bucket)
            return S3Answer(204, {}, [b""], 0)
        if method == "POST" and request.has("delete"):
            keys, quiet = xml.keys_to_delete(body.read_all())
            for key in keys:
                self.store.delete_object(bucket, key)
            return self._xml(xml.deleted(keys, quiet))
        if method == "GET" and request.has("uploads"):
            return self._list_uploads(request, bucket)
        if method == "GET":
            return self._list_objects(request, bucket)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.")

    @staticmethod
    def _limit(request: S3Request, name: str) -> int:
        raw = request.param(name) or "1000"
        if not raw.isdigit():
            raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer range")
        return min(int(raw), 1000)

    def _list_objects(self, request: S3Request, bucket: str) -> S3Answer:
        v2 = request.param("list-type") == "2"
        prefix, delimiter = request.param("prefix") or "", request.param("delimiter") or ""
        url_encoded = request.param("encoding-type") == "url"
        limit = self._limit(request, "max-keys")
        after = (
            (request.param("continuation-token") or request.param("start-after") or "")
            if v2
            else (request.param("marker") or "")
        )
        rows, prefixes, truncated, last = [], [], False, after
        while len(rows) + len(prefixes) < limit:
            batch, more = self.store.list_objects(bucket, prefix, last, limit)
            for obj in batch:
                last = obj.key
                rest = obj.key[len(prefix) :]
                if delimiter and delimiter in rest:
                    common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                    if common not in prefixes:
                        prefixes.append(common)
                    last = common + "\U0010ffff"  # skip the rest of this common prefix
                    break
                rows.append(obj)
                if len(rows) + len(prefixes) >= limit:
                    break
            else:
                truncated = more
                if not more:
                    break
                continue
            truncated = True
            if len(rows) + len(prefixes) >= limit:
                truncated = bool(self.store.list_objects(bucket, prefix, last, 1)[0])
                break
        inner = xml.element("Name", bucket) + xml.element("Prefix", xml.key_text(prefix, url_encoded))
        inner += xml.element("MaxKeys", limit) + xml.element("IsTruncated", str(truncated).lower())
        if delimiter:
            inner += xml.element("Delimiter", delimiter)
        if url_encoded:
            inner += "<EncodingType>url</EncodingType>"
        if v2:
            inner += xml.element("KeyCount", len(rows) + len(prefixes))
            if truncated:
                inner += xml.element("NextContinuationToken", last)
        elif truncated:
            inner += xml.element("NextMarker", last)
        inner += "".join(xml.contents(obj, url_encoded) for obj in rows)
        inner += "".join(
            f"<CommonPrefixes>{xml.element('Prefix', xml.key_text(p, url_encoded))}</CommonPrefixes>"
            for p in prefixes
        )
        return self._xml(xml.document("ListBucketResult", inner))

    def _list_uploads(self, request: S3Request, bucket: str) -> S3Answer:
        key_marker, id_marker = request.param("key-marker") or "", request.param("upload-id-marker") or ""
        limit = self._limit(request, "max-uploads")
        after = (key_marker, id_marker or "\U0010ffff") if key_marker else ("", "")
        listed, truncated = self.store.uploads(bucket, request.param("prefix") or "", after, limit)
        url_encoded = request.param("encoding-type") == "url"
        return self._xml(xml.uploads(bucket, listed, (key_marker, id_marker), limit, truncated, url_encoded))

    # ---- objects ---------------------------------------------------------------------------
    def _object_request(self, request: S3Request, bucket: str, key: str, body: _Body) -> S3Answer:
        method, upload_id = request.method, request.param("uploadId")
        if method == "PUT" and upload_id is not None:
            return self._upload_part(request, bucket, key, upload_id, body)
        if method == "PUT":
            if request.header("x-amz-copy-source"):
                raise S3Error("NotImplemented", "CopyObject is not implemented by this local S3 server.")
            return self._put_object(request, bucket, key, body)
        if method in ("GET", "HEAD") and upload_id is None:
            return self._get_object(request, bucket, key, head=method == "HEAD")
        if method == "GET":
            return self._list_parts(request, bucket, key, upload_id or "")
        if method == "DELETE" and upload_id is not None:
            self.store.abort(self.store.upload(bucket, key, upload_id))
            return S3Answer(204, {}, [b""], 0)
        if method == "DELETE":
            self.store.delete_object(bucket, key)
            return S3Answer(204, {}, [b""], 0)
        if method == "POST" and request.has("uploads"):
            body.read_all()
            return self._xml(
                xml.upload_started(self.store.create_upload(bucket, key, self._stored_headers(request)))
            )
        if method == "POST" and upload_id is not None:
            upload = self.store.upload(bucket, key, upload_id)
            chosen = xml.chosen_parts(body.read_all())
            obj = self.store.complete(upload, chosen, if_none_match=self._if_none_match(request))
            location = f"http://{request.host}/{bucket}/{key}"
            return self._xml(xml.upload_completed(obj, location), headers={"ETag": obj.etag})
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.")

    @staticmethod
    def _stored_headers(request: S3Request) -> dict[str, str]:
        kept = {name: value for name in STORED_HEADERS if (value := request.header(name)) is not None}
        kept.update(
            {name: values[0] for name, values in request.headers.items() if name.startswith("x-amz-meta-")}
        )
        kept.setdefault("content-type", "binary/octet-stream")
        return kept

    @staticmethod
    def _if_none_match(request: S3Request) -> bool:
        value = request.header("if-none-match")
        if value is not None and value.strip() != "*":
            raise S3Error("NotImplemented", "If-None-Match accepts only '*' on writes.")
        return value is not None

    def _store_body(self, request: S3Request, body: _Body) -> Blob:
        if body.length > MAX_PUT_SIZE:
            raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.")
        blob = body.store(self.store)
        wanted_md5 = request.header("content-md5")
        if wanted_md5 is not None:
            try:
                expected = base64.b64decode(wanted_md5, validate=True)
            except binascii.Error:
                self.store.discard(blob)
                raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.") from None
            if expected != blob.md5:
                self.store.discard(blob)
                raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
        return blob

    def _put_object(self, request: S3Request, bucket: str, key: str, body: _Body) -> S3Answer:
        if not self.store.has_bucket(bucket):
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", resource=bucket)
        if_none_match = self._if_none_match(request)
        if if_none_match and self.store.head(bucket, key) is not None:  # before reading the body, as S3 does
            raise S3Error(
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                resource=key,
            )
        blob = self._store_body(request, body)
        obj = self.store.put_object(
            bucket,
            key,
            blob,
            self._stored_headers(request),
            if_none_match=if_none_match,
            if_match=request.header("if-match"),
        )
        return S3Answer(200, {"ETag": obj.etag, "Content-Length": "0"}, [b""], 0)

    def _upload_part(
        self, request: S3Request, bucket: str, key: str, upload_id: str, body: _Body
    ) -> S3Answer:
        raw = request.param("partNumber") or ""
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PART_NUMBER:
            raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
        upload = self.store.upload(bucket, key, upload_id)
        etag = self.store.put_part(upload, int(raw), self._store_body(request, body))
        return S3Answer(200, {"ETag": etag, "Content-Length": "0"}, [b""], 0)

    def _list_parts(self, request: S3Request, bucket: str, key: str, upload_id: str) -> S3Answer:
        upload = self.store.upload(bucket, key, upload_id)
        raw_marker = request.param("part-number-marker") or "0"
        marker = int(raw_marker) if raw_marker.isdigit() else 0
        limit = self._limit(request, "max-parts")
        listed, truncated = self.store.parts(upload, marker, limit)
        return self._xml(xml.parts(upload, listed, marker, limit, truncated))

    def _get_object(self, request: S3Request, bucket: str, key: str, *, head: bool) -> S3Answer:
        if not self.store.has_bucket(bucket):
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", resource=bucket)
        obj = self.store.head(bucket, key)
        if obj is None:
            raise S3Error("NoSuchKey", "The specified key does not exist.", resource=key)
        headers = object_headers(obj)
        wanted = byte_range(request.header("range"), obj.size)
        if wanted is None:
            start, end, status = 0, obj.size - 1, 200
        else:
            start, end = wanted
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{obj.size}"
        length = max(0, end - start + 1)
        body: Iterable[bytes] = () if head or length == 0 else self.store.read(obj, start, end)
        return S3Answer(status, headers, body, length)


def object_headers(obj: StoredObject) -> dict[str, str]:
    """The headers S3 (and CloudFront from it) sends with an object."""
    headers = {
        "Content-Type": obj.headers.get("content-type", "binary/octet-stream"),
        "ETag": obj.etag,
        "Last-Modified": _http_date(obj.modified),
        "Accept-Ranges": "bytes",
    }
    for name, value in obj.headers.items():
        if name != "content-type":
            headers[
                "-".join(word.capitalize() for word in name.split("-"))
                if not name.startswith("x-amz-meta-")
                else name
            ] = value
    return headers


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive range asked for (None: the whole object); `InvalidRange` when unsatisfiable."""
    try:
        return parse_range(header, size)
    except UnsatisfiableRangeError:
        raise S3Error("InvalidRange", "The requested range is not satisfiable") from None


class _Body:
    """A request body of known length, read once, its SHA-256 checked when the signature covers it."""

    def __init__(self, source: BinaryIO | _ChunkedReader, length: int, sha256: str | None) -> None:
        self._source = source
        self.length = length
        self._sha256 = sha256

    def _checker(self) -> tuple[Callable[[bytes], None], Callable[[], None]]:
        digest = hashlib.sha256()

        def check() -> None:
            if self._sha256 is not None and digest.hexdigest() != self._sha256:
                raise S3Error(
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                )

        return digest.update, check

    def read_all(self) -> bytes:
        update, check = self._checker()
        data = b""
        while len(data) < self.length:
            chunk = self._source.read(self.length - len(data))
            if not chunk:
                break
            data += chunk
        if len(data) < self.length:
            raise S3Error(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            )
        update(data)
        check()
        return data

    def store(self, store: S3Store) -> Blob:
        update, check = self._checker()
        blob = store.write_blob(self._source.read, self.length, on_chunk=update if self._sha256 else None)
        try:
            check()
        except S3Error:
            store.discard(blob)
            raise
        return blob


class StoreSource:
    """A bucket of the embedded server as the CDN stand-in's origin (read in-process, no HTTP)."""

    def __init__(self, store: S3Store, bucket: str) -> None:
        self._store, self._bucket = store, bucket

    def head(self, key: str) -> ObjectInfo | None:
        obj = self._store.head(self._bucket, key)
        return None if obj is None else ObjectInfo(obj.size, object_headers(obj))

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        obj = self._store.head(self._bucket, key)
        if obj is None:
            return iter(())
        return self._store.read(obj, start, end)
