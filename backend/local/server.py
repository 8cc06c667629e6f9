"""The local HTTP server: `/<stage>/<route>` to the API Gateway stand-in, `/cdn/<key>` to the CDN one.

Binds when constructed (so the URL is known before anything is configured), serves after
`start`, and `stop` leaves no thread behind: it stops accepting, closes idle keep-alive
connections and joins every request thread. All its threads are daemons, so a stack that is
never stopped does not keep the process alive.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from backend.local.answers import MAX_BODY_BYTES, Answer, too_large
from backend.local.cdn import CdnAnswer
from backend.local.events import HttpCall
from backend.local.gateway import ApiGateway
from backend.logs import redact

log = logging.getLogger(__name__)

CdnFetch = Callable[[str, str | None, bool], CdnAnswer]  # (key, Range header, is HEAD)
IDLE_TIMEOUT = 60.0


class _BodyTooLarge(Exception):
    pass


class _Server(HTTPServer):
    """One daemon thread per connection (so a forgotten stack never keeps a process alive),
    each tracked so that `close_connections` can end idle keep-alive ones and join every thread."""

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.gateway: ApiGateway | None = None
        self.cdn: CdnFetch | None = None
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="s3up-local-request",
            daemon=True,
        )
        with self._lock:
            self._connections[request] = worker
        worker.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._connections.pop(request, None)

    def close_connections(self, timeout: float = 10.0) -> None:
        """End every open connection (idle keep-alive ones included) and join their threads."""
        with self._lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)
        for _, worker in connections:
            worker.join(timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    timeout = IDLE_TIMEOUT
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
        self._send_stream(answer.status, answer.headers, answer.body)

    def _send(self, answer: Answer) -> None:
        headers = {**answer.headers, "Content-Length": str(len(answer.body))}
        self._send_stream(answer.status, headers, [answer.body])

    def send_response(self, code: int, message: str | None = None) -> None:
        """The status line and `Date`, without http.server's `Server` header (API Gateway sends none)."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _send_stream(self, status: int, headers: dict[str, str], body: Iterable[bytes]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            for chunk in body:
                self.wfile.write(chunk)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.client_address[0], redact(format % args))


class LocalServer:
    """The stack's one listening socket on `host:port` (port 0 picks a free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        if host in ("0.0.0.0", ""):  # listening everywhere: this machine reaches it on loopback
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    def start(self, gateway: ApiGateway, cdn: CdnFetch) -> None:
        """Serve requests on a background thread."""
        self._server.gateway = gateway
        self._server.cdn = cdn
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="s3up-local-gateway",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and join every thread; safe to call more than once."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()
