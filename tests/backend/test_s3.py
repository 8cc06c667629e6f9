"""Presigned URLs: SigV4, one UploadPart each, nothing a client must echo (no checksum parameters)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from backend.config import Config
from backend.runtime import Services
from backend.s3 import client_config, presign_parts

FORBIDDEN = ("x-amz-checksum", "x-amz-sdk-checksum-algorithm")


def urls(config: Config, *, accelerated: bool = False) -> list[str]:
    services = Services(config)
    presigner = services.accelerated_presigner if accelerated else services.presigner
    signed = presign_parts(presigner, config.bucket, "dir/a b+c.bin", "UPLOAD-ID", [1, 2, 10000], 900)
    services.close()
    assert [p["PartNumber"] for p in signed] == [1, 2, 10000]
    return [p["signedUrl"] for p in signed]


@pytest.mark.parametrize(
    ("config", "accelerated", "origin", "path"),
    [
        (
            Config(bucket="bkt", region="eu-west-1"),
            False,
            "https://bkt.s3.eu-west-1.amazonaws.com",
            "/dir/a%20b%2Bc.bin",
        ),
        (
            Config(bucket="bkt", region="eu-west-1"),
            True,
            "https://bkt.s3-accelerate.amazonaws.com",
            "/dir/a%20b%2Bc.bin",
        ),
        (
            Config(bucket="bkt", s3_endpoint_url="http://127.0.0.1:9000"),
            False,
            "http://127.0.0.1:9000",
            "/bkt/dir/",
        ),
        (
            Config(
                bucket="bkt",
                s3_endpoint_url="http://127.0.0.1:9000",
                s3_public_endpoint_url="http://127.0.0.1:7",
            ),
            True,
            "http://127.0.0.1:7",
            "/bkt/dir/",
        ),
    ],
)
def test_presigned_urls_are_sigv4_single_part_and_checksum_free(
    config: Config, accelerated: bool, origin: str, path: str
) -> None:
    for number, url in zip((1, 2, 10000), urls(config, accelerated=accelerated), strict=True):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == origin
        assert parts.path.startswith(path)
        query = parse_qs(parts.query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query["X-Amz-Expires"] == ["900"]
        assert query["X-Amz-SignedHeaders"] == ["host"]  # nothing but Host to send back
        assert query["partNumber"] == [str(number)]
        assert query["uploadId"] == ["UPLOAD-ID"]
        assert "AWSAccessKeyId" not in query  # not SigV2
        assert not [name for name in query if name.lower().startswith(FORBIDDEN)]


def test_clients_only_compute_checksums_when_required() -> None:
    for local in (True, False):
        config = client_config(local=local)
        assert config.signature_version == "s3v4"
        assert config.request_checksum_calculation == "when_required"
        assert config.response_checksum_validation == "when_required"
    assert client_config(local=True).s3 == {"addressing_style": "path"}
    assert client_config(local=False, accelerate=True).s3 == {
        "addressing_style": "virtual",
        "use_accelerate_endpoint": True,
    }
