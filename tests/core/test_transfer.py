"""How S3's answers to a part PUT are read: ETag checks and the errors that decide retries."""

from __future__ import annotations

import io
import socket
import time

import pytest

from app.core.errors import IntegrityError, ServerError, UploadError, UploadGoneError
from app.core.transfer import ConnectionCache, PartStopper, UrlExpiredError, _check_answer, send_part

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
