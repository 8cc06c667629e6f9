"""How S3's answers to a part PUT are read: ETag checks and the errors that decide retries."""

from __future__ import annotations

import hashlib
import io
import socket
import time
import types
from pathlib import Path

import pytest

from app.core.errors import IntegrityError, ServerError, UploadError, UploadGoneError
from app.core.transfer import ConnectionCache, PartStopper, UrlExpiredError, _check_answer, send_part
from tests.core.test_proxies import TlsServer, put

MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def xml(code: str, message: str) -> bytes:
    return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


def test_matching_md5_etag_is_accepted() -> None:
    assert _check_answer(200, f'"{MD5}"', b"", MD5, url_expired=False).etag == f'"{MD5}"'


def test_an_etag_that_is_not_an_md5_is_trusted() -> None:  # e.g. SSE-KMS buckets
    assert _check_answer(200, '"abc-kms"', b"", MD5, url_expired=False).etag == '"abc-kms"'


def test_a_different_md5_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError):
        _check_answer(200, '"00000000000000000000000000000000"', b"", MD5, url_expired=False)


def test_bytes_changed_on_a_plain_http_wire_are_caught(tmp_path: Path) -> None:
    path = tmp_path / "part.bin"
    path.write_bytes(b"abcdefgh" * 1000)
    with TlsServer(garbled=True) as server:
        connections = ConnectionCache(timeout=10)
        try:
            with pytest.raises(IntegrityError):
                put(server.plain_url, path, connections)
        finally:
            connections.close()


def test_over_tls_no_md5_is_computed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TLS authenticates every byte on the wire, so the MD5 (most of the client's CPU) is not spent."""
    import app.core.transfer as transfer

    def no_md5(*_: object, **__: object) -> object:
        raise AssertionError("an MD5 was computed for a part sent over TLS")

    monkeypatch.setattr(transfer, "hashlib", types.SimpleNamespace(md5=no_md5))
    path = tmp_path / "part.bin"
    path.write_bytes(b"abcdefgh" * 1000)
    with TlsServer(garbled=True) as server:  # only a broken S3 could store other bytes over TLS
        connections = ConnectionCache(timeout=10, ssl_context=server.client_context)
        try:
            sent = put(server.tls_url, path, connections)
        finally:
            connections.close()
    assert server.received == [path.read_bytes()[::-1]]
    assert sent.etag == f'"{hashlib.md5(server.received[0]).hexdigest()}"'


@pytest.mark.parametrize(
    ("status", "body", "expired", "error"),
    [
        (403, xml("AccessDenied", "Request has expired"), False, UrlExpiredError),
        (
            400,
            xml("AccessDenied", "The difference between the request time and the server&#39;s time"),
            False,
            UrlExpiredError,
        ),
        (403, xml("AccessDenied", "Access Denied"), True, UrlExpiredError),  # past its known expiry
        (403, xml("AccessDenied", "Access Denied"), False, UploadError),
        (404, xml("NoSuchUpload", "The specified upload does not exist."), False, UploadGoneError),
        (503, xml("SlowDown", "Please reduce your request rate."), False, ServerError),
        (500, xml("InternalError", "We encountered an internal error."), False, ServerError),
        (
            400,
            xml("RequestTimeout", "Your socket connection to the server was not read from"),
            False,
            ServerError,
        ),
        (429, b"", False, ServerError),
        (
            400,
            xml("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"),
            False,
            UploadError,
        ),
    ],
)
def test_error_answers(status: int, body: bytes, expired: bool, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        _check_answer(status, None, body, MD5, url_expired=expired)
    assert type(caught.value) is error
    assert caught.value.status == status


def test_a_server_that_is_gone_is_a_connection_error_worth_a_retry() -> None:
    """S3 (or the local stack) stopped: the refused connection is a transient error, not a crash."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]  # closed when the block ends: nothing listens there any more
    connections = ConnectionCache(timeout=5)
    try:
        with pytest.raises(ServerError, match="connection to S3 failed"):
            send_part(
                f"http://127.0.0.1:{port}/bucket/key?partNumber=1&uploadId=u",
                time.time() + 300,
                io.BytesIO(b"x" * 1024),
                0,
                1024,
                connections=connections,
                stopper=PartStopper(),
                on_progress=lambda _amount: None,
            )
    finally:
        connections.close()
