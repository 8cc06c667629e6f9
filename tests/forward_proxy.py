"""A forward HTTP proxy for tests, like a company's: absolute-form requests (`PUT http://host/path`) are
forwarded, `CONNECT host:port` opens a tunnel, and with `credentials` every request must carry the
matching Proxy-Authorization or gets 407. It records what went through it.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import select
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.background_server import BackgroundServer, relay


@dataclass(frozen=True)
class Passed:
    method: str
    target: str  # the absolute URL, or host:port for CONNECT
    length: int


class ForwardProxy(BackgroundServer):
    """`with ForwardProxy() as proxy:` then point HTTP(S)_PROXY at `proxy.url`."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.passed: list[Passed] = []
        self.refused = 0
        self._expected_auth = (
            "Basic " + base64.b64encode(":".join(credentials).encode()).decode() if credentials else None
        )
        self._lock = threading.Lock()
        super().__init__(self._handler_class(), "forward-proxy")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _allowed(self) -> bool:
                expected = proxy._expected_auth
                if expected is None or self.headers.get("Proxy-Authorization") == expected:
                    return True
                with proxy._lock:
                    proxy.refused += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length and self.command != "CONNECT":
                    self.rfile.read(length)
                self.send_response(407)
                self.send_header("Proxy-Authenticate", 'Basic realm="test"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False

            def do_CONNECT(self) -> None:
                if not self._allowed():
                    return
                host, _, port = self.path.rpartition(":")
                upstream = socket.create_connection((host, int(port)), timeout=10)
                with proxy._lock:
                    proxy.passed.append(Passed("CONNECT", self.path, 0))
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                _pipe(self.connection, upstream)

            def _forward(self) -> None:
                if not self._allowed():
                    return
                target = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.passed.append(Passed(self.command, self.path, length))
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in ("proxy-authorization", "proxy-connection", "connection")
                }
                upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    upstream.request(self.command, path, body=body, headers=headers)
                    relay(self, upstream.getresponse())
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        return Handler


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [client, upstream]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            upstream.close()
