from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import logs
from app.core.logs import REDACTED, RedactingFilter, redact, register_secret, setup_logging

PRESIGNED = (
    "https://bucket.s3.eu-west-1.amazonaws.com/uploads/big.bin?partNumber=3&uploadId=abc"
    "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20240101%2Feu-west-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20240101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
    "&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLETOKEN&X-Amz-Signature=0123456789abcdef0123456789abcdef"
)
SECRETS = ("AKIAEXAMPLE", "FwoGZXIvYXdzEXAMPLETOKEN", "0123456789abcdef0123456789abcdef")


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, secrets = root.level, set(logs._secrets)
    logs._secrets.clear()  # other tests may have registered tokens
    yield
    with logs._installed_lock:
        for handler in logs._installed:
            root.removeHandler(handler)
            handler.close()
        logs._installed.clear()
    root.setLevel(level)
    logs._secrets.clear()
    logs._secrets.update(secrets)


def test_presigned_url_keeps_its_shape_but_loses_its_secrets() -> None:
    cleaned = redact(f"PUT {PRESIGNED} failed")
    assert not [secret for secret in SECRETS if secret in cleaned]
    assert f"X-Amz-Signature={REDACTED}" in cleaned
    assert f"X-Amz-Credential={REDACTED}&" in cleaned
    assert "partNumber=3&uploadId=abc" in cleaned  # what is useful for debugging stays


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /x?AWSAccessKeyId=AKIAOLD&Signature=c2lnbmF0dXJl%3D&Expires=1", "c2lnbmF0dXJl"),
        ("GET /x?AWSAccessKeyId=AKIAOLD&Signature=c2lnbmF0dXJl%3D&Expires=1", "AKIAOLD"),
        ("Authorization: tok-abc-123", "tok-abc-123"),
        ("headers={'Authorization': 'tok-abc-123', 'Accept': '*/*'}", "tok-abc-123"),
        ('{"authorization": "tok-abc-123"}', "tok-abc-123"),
        ("sent Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-", "eyJhbGciOiJIUzI1NiJ9"),
        ("<SignatureProvided>deadbeef</SignatureProvided>", "deadbeef"),
        (
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIAX/2024, SignedHeaders=host, Signature=feedface",
            "feedface",
        ),
    ],
)
def test_credentials_are_redacted(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert REDACTED in cleaned


def test_ordinary_text_is_left_alone() -> None:
    text = "Part 3 of big.bin (16 MiB) to https://api.example.com/prod/getPreSignedUrls: 401 Unauthorized"
    assert redact(text) == text


def test_registered_secrets_anywhere() -> None:
    register_secret("  s3cr3t/t0ken+value  ")
    cleaned = redact("token=s3cr3t/t0ken+value, in a URL s3cr3t%2Ft0ken%2Bvalue, and in JSON")
    assert "t0ken" not in cleaned
    assert cleaned.count(REDACTED) == 2
    register_secret("   ")  # nothing to register: no effect
    register_secret("t")  # too short to be a secret: replacing it would garble every line
    assert redact("a b t") == "a b t"


def test_filter_redacts_message_args_and_traceback() -> None:
    register_secret("tok-in-args")
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "PUT %s with %s", (PRESIGNED, "tok-in-args"), None
    )
    assert RedactingFilter().filter(record)
    assert record.args is None
    assert "tok-in-args" not in record.getMessage()
    assert "0123456789abcdef" not in record.getMessage()

    try:
        raise ConnectionError(f"Max retries exceeded with url: {PRESIGNED}")
    except ConnectionError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    RedactingFilter().filter(record)
    assert record.exc_text is not None
    assert "ConnectionError" in record.exc_text
    assert "0123456789abcdef" not in record.exc_text


def test_setup_logging_writes_a_redacted_file(tmp_path: Path) -> None:
    register_secret("the-api-token-42")
    path = setup_logging(tmp_path / "logs")
    assert path == tmp_path / "logs" / "s3up.log"
    log = logging.getLogger("urllib3.connectionpool")  # third-party records are redacted too
    log.info("PUT %s", PRESIGNED)
    log.warning("token %s rejected", "the-api-token-42")
    try:
        raise RuntimeError(f"boom {PRESIGNED}")
    except RuntimeError:
        log.exception("upload failed")
    for handler in logs._installed:
        handler.flush()
    content = path.read_text(encoding="utf-8")
    assert "PUT https://bucket.s3" in content
    assert "RuntimeError: boom" in content
    assert "the-api-token-42" not in content
    assert not [secret for secret in SECRETS if secret in content]


def test_setup_logging_is_idempotent_and_defaults_to_the_log_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3UP_HOME", str(tmp_path))
    root = logging.getLogger()
    before = len(root.handlers)
    first = setup_logging()
    second = setup_logging(console=True, level=logging.DEBUG)
    assert first == second == tmp_path / "logs" / "s3up.log"
    assert len(root.handlers) == before + 2  # one file handler and one console handler, not three
    assert root.level == logging.DEBUG
    assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in logs._installed)
    logging.getLogger("s3up.test").info("once")
    for handler in logs._installed:
        handler.flush()
    assert first.read_text(encoding="utf-8").count("once") == 1


def test_rotation(tmp_path: Path) -> None:
    path = setup_logging(tmp_path, max_bytes=2000, backups=2)
    log = logging.getLogger("s3up.rotation")
    for number in range(200):
        log.info("line %03d %s", number, "x" * 50)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["s3up.log", "s3up.log.1", "s3up.log.2"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    assert "line 199" in path.read_text(encoding="utf-8")
