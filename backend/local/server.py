"""The local HTTP server: `/<stage>/<route>` to the API Gateway stand-in, `/cdn/<key>` to the CDN one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from backend.local.answers import MAX_BODY_BYTES, Answer, too_large
from backend.local.cdn import CdnAnswer
from backend.local.events import HttpCall
from backend.local.gateway import ApiGateway
from backend.local.httpbase import QuietHandler, ThreadedServer
from backend.logs import redact

log = logging.getLogger(__name__)

CdnFetch = Callable[[str, str | None, bool], CdnAnswer]  # (key, Range header, is HEAD)


class _BodyTooLarge(Exception):
    pass


class _Server(ThreadedServer):
    gateway: ApiGateway
    cdn: CdnFetch


class _Handler(QuietHandler):
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        try:
            if url.path.startswith("/cdn/"):
                self._cdn(unquote(url.path[len("/cdn/") :]))
            else:
                self._api(url.path, url.query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _api(self, path: str, query: str) -> None:
        gateway = self.server.gateway
        assert gateway is not None, "the server was not started"
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self.close_connection = True  # the unread body must not be taken for a request
            self._send(too_large())
            return
        except ValueError:
            self.close_connection = True
            self._send(Answer(400, {"Content-Type": "application/json"}, b'{"message": "Bad Request"}'))
            return
        stage, _, rest = path.lstrip("/").partition("/")
        call = HttpCall(
            method=self.command,
            stage=stage,
            resource="/" + rest.rstrip("/"),
            headers=list(self.headers.items()),
            query=query,
            body=body,
            source_ip=self.client_address[0],
            host=self.headers.get("Host", ""),
        )
        self._send(gateway.handle(call))

    def _read_body(self) -> bytes:
        """The body (Content-Length or chunked); `_BodyTooLarge` past 10 MB, ValueError when malformed."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise _BodyTooLarge
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length_header = self.headers.get("Content-Length", "0").strip() or "0"
        if not length_header.isdigit():
            raise ValueError(length_header)
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            raise _BodyTooLarge
        return self.rfile.read(length) if length else b""

    def _cdn(self, key: str) -> None:
        cdn = self.server.cdn
        assert cdn is not None, "the server was not started"
        if self.command not in ("GET", "HEAD"):
            self._send(
                Answer(405, {"Allow": "GET, HEAD", "Content-Type": "text/plain"}, b"Method Not Allowed")
            )
            return
        try:
            answer = cdn(key, self.headers.get("Range"), self.command == "HEAD")
        except Exception:
            log.exception("the CDN stand-in failed for %s", redact(key))
            self._send(Answer(502, {"Content-Type": "text/plain"}, b"Bad Gateway"))
            return
        self.send_stream(answer.status, answer.headers, answer.body)

    def _send(self, answer: Answer) -> None:
        headers = {**answer.headers, "Content-Length": str(len(answer.body))}
        self.send_stream(answer.status, headers, [answer.body])


class LocalServer:
    """The stack's API and CDN socket on `host:port` (port 0 picks a free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Handler, "s3up-local-gateway")

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    def start(self, gateway: ApiGateway, cdn: CdnFetch) -> None:
        """Serve requests on a background thread."""
        self._server.gateway = gateway
        self._server.cdn = cdn
        self._server.start()

    def stop(self) -> None:
        """Stop serving and join every thread; safe to call more than once."""
        self._server.stop()
