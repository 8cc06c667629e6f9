"""A fault-injecting HTTP proxy for tests: put it in front of S3 or the API and decide, per request,
whether it passes, is reset mid-body, answers 500/503 SlowDown, answers slowly, or says the presigned
URL expired. Requests are forwarded with their Host header unchanged, so SigV4 signatures still hold.
"""

from __future__ import annotations

import contextlib
import enum
import http.client
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.background_server import BackgroundServer, relay


class Fault(enum.Enum):
    PASS = "pass"
    RESET_MID_BODY = "reset"  # read half the body, then reset the connection
    ERROR_500 = "500"
    SLOW_DOWN_503 = "503"
    SLOW_ANSWER = "slow"  # forward, but wait before answering
    EXPIRED = "expired"  # 403 Request has expired, as S3 answers an expired presigned URL
    GATEWAY_TIMEOUT_504 = "504"
    CORRUPT = "corrupt"  # flip one byte of the body on its way (S3's ETag then differs from the MD5 sent)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    length: int


Decide = Callable[[Seen], Fault]

_S3_ERRORS = {
    Fault.ERROR_500: (500, "InternalError", "We encountered an internal error. Please try again."),
    Fault.SLOW_DOWN_503: (503, "SlowDown", "Please reduce your request rate."),
    Fault.EXPIRED: (403, "AccessDenied", "Request has expired"),
}


class FaultProxy(BackgroundServer):
    """`with FaultProxy(decide) as proxy:` — proxy.url is where to send; set `upstream` before use."""

    def __init__(self, decide: Decide, upstream: str = "", *, slow_seconds: float = 1.5) -> None:
        self.upstream = upstream
        self.decide = decide
        self.slow_seconds = slow_seconds
        self.counts: Counter[Fault] = Counter()
        self.bytes_received = 0
        self._lock = threading.Lock()
        super().__init__(self._handler_class(), "fault-proxy")

    @property
    def upstream(self) -> str:
        return f"http://{self.upstream_host}:{self.upstream_port}"

    @upstream.setter
    def upstream(self, url: str) -> None:
        target = urlsplit(url)
        self.upstream_host = target.hostname or "127.0.0.1"
        self.upstream_port = target.port or 80

    def _count(self, fault: Fault, received: int) -> None:
        with self._lock:
            self.counts[fault] += 1
            self.bytes_received += received

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fault = proxy.decide(Seen(self.command, self.path, length))
                if fault is Fault.RESET_MID_BODY:
                    self.rfile.read(length // 2)
                    proxy._count(fault, length // 2)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                body = self.rfile.read(length) if length else b""
                proxy._count(fault, len(body))
                if fault in _S3_ERRORS:
                    status, code, message = _S3_ERRORS[fault]
                    self._answer(
                        status,
                        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode(),
                        "application/xml",
                    )
                    return
                if fault is Fault.GATEWAY_TIMEOUT_504:
                    self._answer(504, b'{"message": "Endpoint request timed out"}', "application/json")
                    return
                if fault is Fault.SLOW_ANSWER:
                    time.sleep(proxy.slow_seconds)
                if fault is Fault.CORRUPT and body:
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                    # The server may answer early (e.g. refuse the URL) and close: then relay that answer.
                    with contextlib.suppress(OSError):
                        upstream.request(self.command, self.path, body=body or None, headers=headers)
                    relay(self, upstream.getresponse())
                finally:
                    upstream.close()

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_PUT = do_GET = do_POST = do_HEAD = do_DELETE = _relay

        return Handler
