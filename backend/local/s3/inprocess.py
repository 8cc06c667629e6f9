"""The handlers' boto3 client talks to the embedded S3 server in-process, without a socket.

Measured first (benchmarks/bench_api.py --profile): on the batch routes a quarter of the stack's
CPU went to carrying the handlers' own S3 calls over loopback HTTP (urllib3 on one side,
http.server on the other). `InProcessTransport` replaces botocore's HTTP session of that one
client: each request still goes through all of botocore (serialising, signing, parsing, errors)
and all of `S3Service` (SigV4 check included); only the socket in between is gone. Clients
outside the process (the app's part uploads, presigned URLs) use the HTTP server as before.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from backend.local.s3.service import S3Request, S3Service, parse_query

log = logging.getLogger(__name__)


class _Body:
    """An answer's body as botocore reads it from urllib3: `read(amt)`, `stream()`, `close()`."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""

    def read(self, amt: int | None = None) -> bytes:
        while amt is None or len(self._buffer) < amt:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if amt is None:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:amt], self._buffer[amt:]
        return data

    def stream(self, amt: int = 1024 * 1024, decode_content: bool | None = None) -> Iterator[bytes]:
        while data := self.read(amt):
            yield data

    def close(self) -> None:
        self._chunks = iter(())
        self._buffer = b""


class InProcessTransport:
    """A botocore HTTP session that hands each request to an `S3Service`."""

    def __init__(self, service: S3Service) -> None:
        self._service = service

    def send(self, request: AWSPreparedRequest) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body
        if body is None:
            data: Any = io.BytesIO(b"")
        elif isinstance(body, bytes | bytearray):
            data = io.BytesIO(bytes(body))
        elif isinstance(body, str):
            data = io.BytesIO(body.encode("utf-8"))
        else:
            data = body  # a file-like object botocore streams from
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            headers.setdefault(name.lower(), []).append(text)
        headers.setdefault("host", [url.netloc])
        if "content-length" not in headers and isinstance(data, io.BytesIO):
            headers["content-length"] = [str(len(data.getbuffer()))]
        answer = self._service.handle(
            S3Request(request.method, url.path or "/", parse_query(url.query), headers, data, url.netloc)
        )
        length = answer.length
        answer_headers = dict(answer.headers)
        if length is not None:
            answer_headers.setdefault("Content-Length", str(length))
        response = AWSResponse(request.url, answer.status, answer_headers, _Body(answer.body))
        if not request.stream_output:
            response.content  # noqa: B018 (read now, as botocore's own session does)
        return response

    def close(self) -> None:
        """Nothing to close: there is no connection."""


def attach(client: Any, service: S3Service) -> bool:
    """Make a boto3 S3 client of the embedded server send in-process; False if botocore changed."""
    endpoint = getattr(client, "_endpoint", None)
    if endpoint is None or not hasattr(endpoint, "http_session"):
        log.warning("botocore has no endpoint.http_session: the handlers reach S3 over HTTP")
        return False
    endpoint.http_session = InProcessTransport(service)
    return True
