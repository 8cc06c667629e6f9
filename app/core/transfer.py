"""Sends one part's bytes to a presigned URL, straight from the file, and checks what S3 stored.

The body is read from disk in small chunks while it is sent, so memory is one chunk per connection
whatever the part size. Over plain HTTP the MD5 is computed on the way and compared with the ETag S3
returns, as nothing else guards the bytes on the wire. Over HTTPS it is not: TLS authenticates every
record, so S3 has received exactly the bytes sent, and the MD5 would be most of the client's CPU
(1.4–1.6 s per GiB on these machines, where sending costs 0.7–1). A resume still checks the parts it
keeps against their ETags by reading the file again (`steps.verify_part`).

A send can be stopped from another thread (`PartStopper.stop()`): the socket is shut down, so even a
send blocked on a stalled connection ends at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import http.client
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

from app.core.bandwidth import BandwidthLimiter
from app.core.errors import IntegrityError, ServerError, UploadError, UploadGoneError
from app.core.proxies import Route, open_route

log = logging.getLogger(__name__)

CHUNK_SIZE = 256 * 1024
ETAG_MD5 = re.compile(r'^"?([0-9a-fA-F]{32})"?$')
_XML_FIELD = re.compile(r"<(Code|Message)>([^<]*)</\1>")


class PartStopped(Exception):
    """The send was stopped on purpose (pause, cancel, shutdown); nothing is wrong."""


class UrlExpiredError(UploadError):
    """S3 refused the presigned URL as expired (or its signature as stale): sign it again."""

    transient = True


@dataclass(frozen=True)
class SentPart:
    etag: str


class PartStopper:
    """Lets another thread stop the sends of one upload (a resumed upload gets a new one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = False
        self._event: threading.Event | None = None  # made on first use: 10,000 idle uploads need none
        self._sockets: set[socket.socket] = set()

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def event(self) -> threading.Event:
        """Set once stopped (for waits that should end then)."""
        with self._lock:
            if self._event is None:
                self._event = threading.Event()
                if self._stopped:
                    self._event.set()
            return self._event

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._event is not None:
                self._event.set()
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _track(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.add(sock)
            if self._stopped:
                raise PartStopped()

    def _untrack(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sockets.discard(sock)  # type: ignore[arg-type]


class ConnectionCache:
    """Keep-alive HTTP connections of one worker thread, by (scheme, host, port), through the proxy
    the environment names for each (see `proxies`)."""

    def __init__(self, timeout: float, ssl_context: ssl.SSLContext | None = None) -> None:
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._routes: dict[tuple[str, str, int | None], Route] = {}

    def get(self, scheme: str, host: str, port: int | None) -> Route:
        key = (scheme, host, port)
        route = self._routes.get(key)
        if route is None:
            context = (self._ssl_context or default_ssl_context()) if scheme == "https" else None
            route = open_route(scheme, host, port, timeout=self._timeout, ssl_context=context)
            self._routes[key] = route
        return route

    def discard(self, scheme: str, host: str, port: int | None) -> None:
        route = self._routes.pop((scheme, host, port), None)
        if route is not None:
            route.connection.close()

    def close(self) -> None:
        for route in self._routes.values():
            route.connection.close()
        self._routes.clear()


def default_ssl_context() -> ssl.SSLContext:
    """The system's CA store, or certifi's when the system has none (frozen apps)."""
    context = ssl.create_default_context()
    if not context.get_ca_certs():
        try:
            import certifi

            context.load_verify_locations(certifi.where())
        except ImportError:
            pass
    return context


def send_part(
    url: str,
    expires_at: float,
    file: BinaryIO,
    offset: int,
    length: int,
    *,
    connections: ConnectionCache,
    stopper: PartStopper,
    on_progress: Callable[[int], None],
    limiter: BandwidthLimiter | None = None,
    headers: Mapping[str, str] | None = None,
) -> SentPart:
    """PUT `length` bytes of `file` from `offset` to the presigned `url`; return S3's ETag.

    `expires_at` (time.time()) is when the URL expires: past it, any 400/403 counts as an expired URL.
    `headers` are sent as given (a single PUT's signed headers, such as its Content-Type).

    `on_progress(n)` is called with each chunk's size as it is handed to the socket. Raises
    PartStopped, UrlExpiredError, UploadGoneError, IntegrityError (the ETag is an MD5 other than the
    bytes sent), ServerError (worth a retry) or UploadError (permanent).
    """
    target = urlsplit(url)
    route = connections.get(target.scheme, target.hostname or "", target.port)
    connection = route.connection
    digest = hashlib.md5(usedforsecurity=False) if target.scheme == "http" else None
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    sock: socket.socket | None = None
    try:
        connection.putrequest("PUT", route.request_target(target), skip_accept_encoding=True)
        extra = {name: value for name, value in (headers or {}).items() if name.lower() != "content-length"}
        for name, value in {**route.headers, **extra}.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        sock = connection.sock
        stopper._track(sock)
        file.seek(offset)
        remaining = length
        while remaining:
            if stopper.stopped:
                raise PartStopped()
            size = min(CHUNK_SIZE, remaining)
            if limiter is not None:
                limiter.acquire(size, stopper.event)
            read = file.readinto(view[:size])  # type: ignore[attr-defined]
            if not read:
                raise UploadError("The file became shorter while it was being uploaded.")
            chunk = view[:read]
            if digest is not None:
                digest.update(chunk)
            connection.send(chunk)
            remaining -= read
            on_progress(read)
        response = connection.getresponse()
        body = response.read(65536)
        status, etag = response.status, response.getheader("ETag")
        if response.will_close:
            connections.discard(target.scheme, target.hostname or "", target.port)
    except PartStopped:
        connections.discard(target.scheme, target.hostname or "", target.port)
        raise
    except (OSError, http.client.HTTPException) as error:
        early = None if stopper.stopped else _early_answer(connection)
        connections.discard(target.scheme, target.hostname or "", target.port)
        if stopper.stopped:
            raise PartStopped() from error
        if early is not None:  # S3 (or the proxy) refused before reading the whole body, and said why
            return _read_answer(route, *early, _hex(digest), url_expired=time.time() >= expires_at)
        if str(error).startswith("Tunnel connection failed: "):  # http.client's words for CONNECT
            raise _proxy_refused(str(error).split(": ", 1)[1], route.proxy_credentials) from error
        raise ServerError(f"The connection to S3 failed ({type(error).__name__}: {error}).") from error
    except BaseException:
        connections.discard(target.scheme, target.hostname or "", target.port)
        raise
    finally:
        stopper._untrack(sock)
    return _read_answer(route, status, etag, body, _hex(digest), url_expired=time.time() >= expires_at)


def _hex(digest: hashlib._Hash | None) -> str | None:
    return None if digest is None else digest.hexdigest()


def _read_answer(
    route: Route, status: int, etag: str | None, body: bytes, md5_hex: str | None, *, url_expired: bool
) -> SentPart:
    if status == 407 and route.absolute_form:  # the proxy's answer, not S3's
        raise _proxy_refused("407 Proxy Authentication Required", route.proxy_credentials)
    return _check_answer(status, etag, body, md5_hex, url_expired=url_expired)


def _early_answer(connection: http.client.HTTPConnection) -> tuple[int, str | None, bytes] | None:
    """The error answer a server sent before it stopped reading the body, if there is one."""
    if connection.sock is None:  # never connected, or closed: nothing can have been answered
        return None
    try:
        connection.sock.settimeout(5)
        response = connection.getresponse()
        return response.status, response.getheader("ETag"), response.read(65536)
    except (OSError, http.client.HTTPException):
        return None


def _check_answer(
    status: int, etag: str | None, body: bytes, md5_hex: str | None, *, url_expired: bool
) -> SentPart:
    """`md5_hex` is the MD5 of the bytes sent, or None when TLS guarded them (nothing to compare)."""
    if status == 200:
        if not etag:
            raise ServerError("S3 accepted a part but returned no ETag.")
        match = ETAG_MD5.match(etag)
        if match and md5_hex is not None and match.group(1).lower() != md5_hex:
            raise IntegrityError(
                "S3 stored different bytes than were sent for a part (its ETag is not their MD5)."
            )
        return SentPart(etag=etag)
    fields = dict(_XML_FIELD.findall(body.decode("utf-8", "replace")))
    code, message = fields.get("Code", ""), html.unescape(fields.get("Message", ""))
    described = f"S3 answered {status}{f' {code}' if code else ''}{f': {message}' if message else ''}"
    if _is_expired(status, code, message) or (url_expired and status in (400, 403)):
        raise UrlExpiredError(f"{described} (the part's URL expired).", status=status)
    if status == 404 or code == "NoSuchUpload":
        raise UploadGoneError(
            "S3 no longer has this multipart upload (it was aborted or expired).", status=status
        )
    if status in (408, 429) or status >= 500 or code in ("SlowDown", "RequestTimeout", "InternalError"):
        raise ServerError(f"{described}.", status=status)
    raise UploadError(f"{described}.", status=status)


def _proxy_refused(answer: str, credentials_given: bool) -> UploadError:
    """The proxy would not connect to S3 (`answer`: its status and reason, e.g. "407 Proxy ...")."""
    status = int(answer[:3]) if answer[:3].isdigit() else None
    if status != 407:
        return ServerError(f"The proxy could not connect to S3 ({answer}).")
    if credentials_given:
        return UploadError(
            "The proxy refused the user name and password in HTTPS_PROXY / HTTP_PROXY. Check them; "
            "write @, : and / in them as %40, %3A and %2F. Only Basic authentication is supported.",
            status=407,
        )
    return UploadError(
        "The proxy asks for a user name and password: put them in the proxy address "
        "(http://user:password@proxy:port) in HTTPS_PROXY / HTTP_PROXY.",
        status=407,
    )


def _is_expired(status: int, code: str, message: str) -> bool:
    """S3 says "Request has expired" (403); other servers speak of the request time (400)."""
    if status not in (400, 403):
        return False
    text = message.lower()
    return "expired" in text or "request time" in text or code in ("ExpiredToken", "RequestTimeTooSkewed")
