"""The CloudFront stand-in: Content-Type, Content-Length, ETag and byte ranges."""

from __future__ import annotations

import pytest
import requests

from backend.local import LocalStack
from backend.local.cdn import UnsatisfiableRangeError, parse_range
from backend.serving import CDN_RESPONSE_HEADERS
from tests.backend.support import Api, Flows, seed_body

DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=10-", (10, 10239)),
        ("bytes=-100", (10140, 10239)),
        ("bytes=-99999", (0, 10239)),
        ("bytes=10000-99999", (10000, 10239)),
        ("bytes=9-3", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=-", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, len(DATA)) == expected


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=-0", "bytes=20000-20001"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(UnsatisfiableRangeError):
        parse_range(header, len(DATA))


@pytest.fixture(scope="module")
def cdn_object(stack: LocalStack) -> str:
    stack.s3.put_object(Bucket=stack.bucket, Key="media/clip one.mp4", Body=DATA, ContentType="video/mp4")
    return f"{stack.cdn_base_url}/media/clip%20one.mp4"


def test_get_serves_the_object_with_its_headers(cdn_object: str) -> None:
    answer = requests.get(cdn_object, timeout=10)
    assert answer.status_code == 200
    assert answer.content == DATA
    assert answer.headers["Content-Type"] == "video/mp4"
    assert answer.headers["Content-Length"] == str(len(DATA))
    assert answer.headers["Accept-Ranges"] == "bytes"
    assert answer.headers["ETag"].startswith('"')
    assert "Last-Modified" in answer.headers


def test_head_sends_headers_only(cdn_object: str) -> None:
    answer = requests.head(cdn_object, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Length"] == str(len(DATA))
    assert answer.content == b""


def test_ranges(cdn_object: str) -> None:
    part = requests.get(cdn_object, headers={"Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206
    assert part.content == DATA[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(DATA)}"
    tail = requests.get(cdn_object, headers={"Range": "bytes=-10"}, timeout=10)
    assert tail.content == DATA[-10:]
    refused = requests.get(cdn_object, headers={"Range": "bytes=999999-"}, timeout=10)
    assert refused.status_code == 416
    assert refused.headers["Content-Range"] == f"bytes */{len(DATA)}"


def test_missing_objects_and_other_methods(stack: LocalStack) -> None:
    assert requests.get(f"{stack.cdn_base_url}/nothing/here.txt", timeout=10).status_code == 404
    assert requests.put(f"{stack.cdn_base_url}/x", data=b"1", timeout=10).status_code == 405


def test_every_answer_carries_the_distributions_headers(stack: LocalStack, cdn_object: str) -> None:
    for answer in (
        requests.get(cdn_object, timeout=10),
        requests.head(cdn_object, timeout=10),
        requests.get(cdn_object, headers={"Range": "bytes=0-0"}, timeout=10),
        requests.get(f"{stack.cdn_base_url}/nothing/here.txt", timeout=10),
    ):
        for name, value in CDN_RESPONSE_HEADERS.items():
            assert answer.headers[name] == value, (answer.status_code, name)
        assert answer.headers["X-Cache"].endswith("from cloudfront")


def test_a_page_uploaded_through_the_api_is_served_as_an_attachment(stack: LocalStack, flows: Flows) -> None:
    api = Api(stack.api_url, stack.token)
    page = b"<html><script>alert(1)</script></html>"
    started = api.ok("/initialize", seed_body("pages/evil.html", contentType="text/html"))
    parts = flows.put_parts(api.ok("/getPreSignedUrls", {**started, "parts": 1})["parts"], {1: page})
    finished = api.ok("/finalize", {**started, "parts": parts})
    api.http.close()
    served = requests.get(finished["url"], timeout=10)
    assert served.content == page
    assert served.headers["Content-Type"].startswith("text/html")
    assert served.headers["Content-Disposition"] == "attachment"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
