"""The API client against both kinds of API: this project's backend and the existing deployment's routes."""

from __future__ import annotations

import pytest
import requests

from app.core.api import ApiClient, cdn_url, normalize_api_url, url_expiry
from app.core.errors import (
    ApiUnreachableError,
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotThisApiError,
    UploadGoneError,
)
from app.core.metadata import build_payload
from backend.local import LocalStack
from tests.core.conftest import METADATA


@pytest.fixture(scope="module")
def core_only() -> LocalStack:
    with LocalStack(core_only=True) as local:
        yield local  # type: ignore[misc]


def test_probe_learns_the_extensions_and_who_signed_in(stack: LocalStack) -> None:
    info = ApiClient(stack.api_url, stack.token).probe()
    assert info.extended
    assert info.token_verified
    assert info.principal == "local-user"
    assert {"partNumbers", "listParts", "abortUpload", "url"} <= info.capabilities


def test_probe_falls_back_to_the_core_routes(core_only: LocalStack) -> None:
    info = ApiClient(core_only.api_url, core_only.token).probe()
    assert not info.extended
    assert not info.token_verified


def test_existing_deployment_unknown_token_reads_as_rejected_token(core_only: LocalStack) -> None:
    client = ApiClient(core_only.api_url, "not-a-token")
    with pytest.raises(AuthError, match="rejected the token"):
        client.initialize(build_payload(METADATA, "quirk.bin"), extended=False)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_missing_or_unknown_token_on_this_backend(stack: LocalStack, token: str | None) -> None:
    with pytest.raises(AuthError):
        ApiClient(stack.api_url, token).probe()


def test_wrong_stage_is_not_this_api(stack: LocalStack) -> None:
    with pytest.raises(NotThisApiError, match="Check the API URL"):
        ApiClient(stack.api_url.replace("/prod", "/dev"), stack.token).probe()


def test_unreachable() -> None:
    with pytest.raises(ApiUnreachableError, match="cannot be reached"):
        ApiClient("http://127.0.0.1:9/prod", "t", timeout=2).probe()


def test_a_web_page_is_not_this_api(stack: LocalStack) -> None:
    with pytest.raises(NotThisApiError):
        ApiClient(stack.cdn_base_url, stack.token).probe()


def test_full_route_cycle_and_errors(stack: LocalStack) -> None:
    client = ApiClient(stack.api_url, stack.token)
    started = client.initialize(
        build_payload(METADATA, "client/cycle.bin"), content_type="text/plain", file_size=3
    )
    assert started.file_key == "client/cycle.bin"
    assert started.max_parts == 10_000
    urls = client.presign(started.file_id, started.file_key, part_numbers=[1])
    assert urls[1].expires_at - urls[1].issued_at == pytest.approx(300, abs=2)
    etag = requests.put(urls[1].url, data=b"abc", timeout=10).headers["ETag"]
    assert [(p.number, p.size) for p in client.list_parts(started.file_id, started.file_key)] == [(1, 3)]
    with pytest.raises(InvalidRequestError):
        client.finalize(started.file_id, started.file_key, [(1, '"0000"')])
    done = client.finalize(started.file_id, started.file_key, [(1, etag)])
    assert done.url == f"{stack.cdn_base_url}/client/cycle.bin"
    assert done.size == 3
    with pytest.raises(ConflictError):
        client.initialize(build_payload(METADATA, "client/cycle.bin"))
    again = client.initialize(build_payload(METADATA, "client/cycle.bin"), overwrite=True)
    client.abort(again.file_id, again.file_key)
    with pytest.raises(UploadGoneError):
        client.list_parts(again.file_id, again.file_key)


def test_core_only_links_come_from_the_configured_cdn(core_only: LocalStack) -> None:
    client = ApiClient(core_only.api_url, core_only.token)
    started = client.initialize(build_payload(METADATA, "legacy/a b.txt"), extended=False)
    urls = client.presign(started.file_id, started.file_key, count=1)
    etag = requests.put(urls[1].url, data=b"x", timeout=10).headers["ETag"]
    done = client.finalize(
        started.file_id, started.file_key, [(1, etag)], cdn_base_url="https://cdn.example/"
    )
    assert done.url == "https://cdn.example/legacy/a%20b.txt"
    assert done.size is None


def test_helpers() -> None:
    assert normalize_api_url(" https://x.example/prod/ ") == "https://x.example/prod"
    with pytest.raises(InvalidRequestError):
        normalize_api_url("x.example/prod")
    assert cdn_url(None, "k") is None
    signed = "https://s3/b/k?partNumber=1&X-Amz-Expires=60&X-Amz-Signature=abc"
    assert url_expiry(signed, 1000.0, None) == 1060.0
    assert url_expiry(signed, 1000.0, 5) == 1005.0
