"""`core_only=True` behaves as the existing deployment: core routes only, only /initialize protected."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from backend.local import LocalStack
from tests.backend.support import MIB, Api, Flows, seed_body


@pytest.fixture(scope="module")
def core() -> Iterator[LocalStack]:
    with LocalStack(core_only=True, token="the-fixed-literal-token") as running:
        yield running


@pytest.fixture
def core_api(core: LocalStack) -> Iterator[Api]:
    client = Api(core.api_url, core.token)
    yield client
    client.http.close()


def test_the_seed_flow_answers_only_the_existing_fields(
    core: LocalStack, core_api: Api, flows: Flows
) -> None:
    data = os.urandom(5 * MIB + 10)
    started = core_api.ok("/initialize", seed_body("core/file.bin"))
    assert set(started) == {"fileId", "fileKey"}
    anonymous = Api(core.api_url, None)  # the other core routes are not protected there
    chunks = flows.chunks(data)
    signed = anonymous.ok("/getPreSignedUrls", {**started, "parts": len(chunks)})
    assert set(signed) == {"parts"}
    parts = flows.put_parts(signed["parts"], chunks)
    assert anonymous.ok("/finalize", {**started, "parts": parts}) == {"imagePath": "core/file.bin"}
    anonymous.http.close()
    assert core_api.http.get(f"{core.cdn_base_url}/core/file.bin", timeout=30).content == data


@pytest.mark.parametrize("route", ["/session", "/listParts", "/abortUpload"])
def test_extension_routes_do_not_exist(core_api: Api, route: str) -> None:
    answer = core_api.post(route, {})
    assert answer.status_code == 403
    assert answer.json() == {"message": "Missing Authentication Token"}


def test_unknown_token_is_an_authorizer_configuration_error(core_api: Api) -> None:
    answer = core_api.post("/initialize", seed_body("x.bin"), token="not-the-token")
    assert answer.status_code == 500
    assert answer.json() == {"message": None}
    assert answer.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"


def test_missing_token_is_401(core_api: Api) -> None:
    answer = core_api.post("/initialize", seed_body("x.bin"), token=None)
    assert answer.status_code == 401
    assert answer.json() == {"message": "Unauthorized", "statusCode": "401", "type": "UNAUTHORIZED"}
