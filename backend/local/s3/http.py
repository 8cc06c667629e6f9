"""The embedded S3 server's socket: HTTP/1.1 requests in, `S3Service` answers out."""

from __future__ import annotations

from typing import BinaryIO
from urllib.parse import urlsplit

from backend.local.httpbase import QuietHandler, ThreadedServer
from backend.local.s3.service import S3Request, S3Service, parse_query


class _Limited:
    """At most `length` bytes of the connection: the request body, and no byte of the next request."""

    def __init__(self, source: BinaryIO, length: int) -> None:
        self._source = source
        self.remaining = length

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.remaining:
            size = self.remaining
        data = self._source.read(size) if size else b""
        self.remaining -= len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        if limit < 0 or limit > self.remaining:
            limit = self.remaining
        data = self._source.readline(limit) if limit else b""
        self.remaining -= len(data)
        return data


class _S3Server(ThreadedServer):
    service: S3Service


class _S3Handler(QuietHandler):
    server: _S3Server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # S3 wants a Content-Length (aws-chunked bodies have one too)
            self.send_stream(411, {"Content-Length": "0"}, [])
            return
        length_header = (self.headers.get("Content-Length") or "0").strip()
        body = _Limited(self.rfile, int(length_header) if length_header.isdigit() else 0)
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        request = S3Request(
            self.command, url.path or "/", parse_query(url.query), headers, body, self.headers.get("Host", "")
        )
        answer = self.server.service.handle(request)
        if body.remaining:
            self.close_connection = True  # the unread body must not be taken for a request
        chunks = answer.body if answer.length is not None else [b"".join(answer.body)]
        length = answer.length if answer.length is not None else len(chunks[0])  # type: ignore[index]
        try:
            self.send_stream(answer.status, {**answer.headers, "Content-Length": str(length)}, chunks)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET


class S3Server:
    """The embedded S3 endpoint on `host:port` (port 0 picks a free one)."""

    def __init__(self, service: S3Service, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _S3Server((host, port), _S3Handler, "s3up-local-s3")
        self._server.service = service

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
