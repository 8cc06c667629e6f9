"""Nothing logged carries a URL signature, a credential, a session token or an API token."""

from __future__ import annotations

import logging

from backend.logs import RedactingFilter, redact

URL = (
    "http://127.0.0.1:9/b/k?uploadId=U&partNumber=1&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z"
    "&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Security-Token=SESSIONSECRET&X-Amz-Signature=abcdef0123"
)


def test_presigned_url_secrets_are_redacted() -> None:
    text = redact(f"PUT {URL} failed")
    for secret in ("AKIAEXAMPLE", "SESSIONSECRET", "abcdef0123"):
        assert secret not in text
    assert "uploadId=U&partNumber=1" in text
    assert "X-Amz-Signature=REDACTED" in text


def test_tokens_and_authorization_values_are_redacted() -> None:
    token = "s3up_" + "A" * 43
    for line in (
        f"Authorization: Bearer {token}",
        f"{{'Authorization': '{token}'}}",
        f"got {token} from the user",
        "authorization=plain-secret-token",
    ):
        text = redact(line)
        assert token not in text
        assert "plain-secret-token" not in text
        assert "REDACTED" in text


def test_the_filter_redacts_messages_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "uploading %s", (URL,), None)
    try:
        raise ValueError(URL)
    except ValueError as error:
        record.exc_info = (ValueError, error, error.__traceback__)
    assert RedactingFilter().filter(record)
    assert "abcdef0123" not in record.getMessage()
    assert record.exc_text is not None
    assert "abcdef0123" not in record.exc_text
