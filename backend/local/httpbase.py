"""What the stack's HTTP servers share: a thread per connection, a clean stop, quiet handlers.

`ThreadedServer` binds when constructed (so its URL is known before anything is configured),
serves on a background thread after `start`, and `stop` leaves no thread behind: it stops
accepting, ends idle keep-alive connections and joins every request thread. All its threads are
daemons, so a server that is never stopped does not keep the process alive.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from backend.logs import redact

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 60.0


class ThreadedServer(HTTPServer):
    """An HTTP server with one tracked daemon thread per connection."""

    request_queue_size = 1024  # socketserver's 5 resets connections when many clients connect at once

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], name: str) -> None:
        super().__init__(address, handler)
        self.name = name
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", ""):  # listening everywhere: this machine reaches it on loopback
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"{self.name}-request",
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

    def start(self) -> None:
        """Serve requests on a background thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name=self.name, daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, end every open connection and join every thread; safe to call more than once."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)
        for _, worker in connections:
            worker.join(timeout)
        self.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no `Server` header of its own, redacted request logs."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    timeout = IDLE_TIMEOUT

    def send_response(self, code: int, message: str | None = None) -> None:
        """The status line and `Date`, without http.server's `Server` header."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def send_stream(self, status: int, headers: dict[str, str], body: Iterable[bytes]) -> None:
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
