"""The XML bodies S3 answers with, and the few it receives (CompleteMultipartUpload, Delete)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from backend.local.s3.errors import S3Error
from backend.local.s3.store import Part, StoredObject, Upload

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
OWNER = "<Owner><ID>local</ID><DisplayName>local</DisplayName></Owner>"
_MALFORMED = "The XML you provided was not well-formed or did not validate against our published schema."


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"
    )


def document(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NAMESPACE}">{inner}</{root}>'.encode()


def element(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def key_text(key: str, url_encoded: bool) -> str:
    return quote(key, safe="/") if url_encoded else key


def buckets(entries: Iterable[tuple[str, float]]) -> bytes:
    listed = "".join(
        f"<Bucket>{element('Name', name)}{element('CreationDate', iso(created))}</Bucket>"
        for name, created in entries
    )
    return document("ListAllMyBucketsResult", f"{OWNER}<Buckets>{listed}</Buckets>")


def contents(obj: StoredObject, url_encoded: bool) -> str:
    return (
        f"<Contents>{element('Key', key_text(obj.key, url_encoded))}"
        f"{element('LastModified', iso(obj.modified))}{element('ETag', obj.etag)}{element('Size', obj.size)}"
        "<StorageClass>STANDARD</StorageClass></Contents>"
    )


def upload_started(upload: Upload) -> bytes:
    inner = element("Bucket", upload.bucket) + element("Key", upload.key) + element("UploadId", upload.id)
    return document("InitiateMultipartUploadResult", inner)


def upload_completed(obj: StoredObject, location: str) -> bytes:
    inner = element("Location", location) + element("Bucket", obj.bucket) + element("Key", obj.key)
    return document("CompleteMultipartUploadResult", inner + element("ETag", obj.etag))


def parts(upload: Upload, listed: list[Part], marker: int, limit: int, truncated: bool) -> bytes:
    rows = "".join(
        f"<Part>{element('PartNumber', p.number)}{element('LastModified', iso(p.modified))}"
        f"{element('ETag', p.etag)}{element('Size', p.size)}</Part>"
        for p in listed
    )
    next_marker = listed[-1].number if listed else marker
    inner = (
        element("Bucket", upload.bucket) + element("Key", upload.key) + element("UploadId", upload.id)
        + OWNER.replace("Owner", "Initiator") + OWNER + "<StorageClass>STANDARD</StorageClass>"
        + element("PartNumberMarker", marker) + element("NextPartNumberMarker", next_marker)
        + element("MaxParts", limit) + element("IsTruncated", str(truncated).lower()) + rows
    )  # fmt: skip
    return document("ListPartsResult", inner)


def uploads(
    bucket: str,
    listed: list[Upload],
    markers: tuple[str, str],
    limit: int,
    truncated: bool,
    url_encoded: bool,
) -> bytes:
    rows = "".join(
        f"<Upload>{element('Key', key_text(u.key, url_encoded))}{element('UploadId', u.id)}"
        f"{OWNER.replace('Owner', 'Initiator')}{OWNER}<StorageClass>STANDARD</StorageClass>"
        f"{element('Initiated', iso(u.initiated))}</Upload>"
        for u in listed
    )
    inner = (
        element("Bucket", bucket) + element("KeyMarker", markers[0]) + element("UploadIdMarker", markers[1])
    )
    if truncated and listed:
        inner += element("NextKeyMarker", key_text(listed[-1].key, url_encoded))
        inner += element("NextUploadIdMarker", listed[-1].id)
    inner += element("MaxUploads", limit) + element("IsTruncated", str(truncated).lower())
    if url_encoded:
        inner += "<EncodingType>url</EncodingType>"
    return document("ListMultipartUploadsResult", inner + rows)


def _parse(body: bytes) -> ElementTree.Element:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise S3Error("MalformedXML", _MALFORMED) from None
    for node in root.iter():  # drop the namespace, which clients may or may not send
        node.tag = node.tag.rpartition("}")[2]
    return root


def chosen_parts(body: bytes) -> list[tuple[int, str]]:
    """The `(PartNumber, ETag)` pairs of a CompleteMultipartUpload body."""
    root = _parse(body)
    chosen = []
    for part in root.findall("Part"):
        number, etag = part.findtext("PartNumber"), part.findtext("ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise S3Error("MalformedXML", _MALFORMED)
        chosen.append((int(number), etag.strip()))
    return chosen


def keys_to_delete(body: bytes) -> tuple[list[str], bool]:
    root = _parse(body)
    keys = [obj.findtext("Key") or "" for obj in root.findall("Object")]
    return keys, (root.findtext("Quiet") or "").strip().lower() == "true"


def deleted(keys: list[str], quiet: bool) -> bytes:
    rows = "" if quiet else "".join(f"<Deleted>{element('Key', key)}</Deleted>" for key in keys)
    return document("DeleteResult", rows)
