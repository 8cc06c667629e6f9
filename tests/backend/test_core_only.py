"""`core_only=True` answers as the existing deployment does behind API Gateway, byte for byte.

Core routes only, only `/initialize` protected, an unknown token a 500, the 300 s authorizer cache,
3 s functions, and `/initialize` crashing (502) without `organizationId`/`objectRecordId`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from backend.local import LocalStack
from tests.backend.support import MIB, Api, Flows, seed_body, stored_uploads

TOKEN = "the-fixed-literal-token"


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def core(clock: FakeClock) -> Iterator[LocalStack]:
    with LocalStack(core_only=True, token=TOKEN, clock=clock) as running:
        yield running


@pytest.fixture
def core_api(core: LocalStack) -> Iterator[Api]:
    client = Api(core.api_url, core.token)
    yield client
    client.http.close()


def files_items(stack: LocalStack) -> dict[str, Any]:
    return stored_uploads(stack.services)


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


@pytest.mark.parametrize("route", ["/session", "/listParts", "/abortUpload", "/listUploads"])
def test_extension_routes_do_not_exist(core_api: Api, route: str) -> None:
    anonymous = core_api.post(route, {}, token=None)
    assert (anonymous.status_code, anonymous.content) == (403, b'{"message": "Missing Authentication Token"}')
    assert anonymous.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    with_token = core_api.post(route, {})
    digest = base64.b64encode(hashlib.sha256(TOKEN.encode()).digest()).decode()
    assert with_token.status_code == 403
    assert with_token.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    assert with_token.json() == {
        "message": "Invalid key=value pair (missing equal-sign) in Authorization header "
        f"(hashed with SHA-256 and encoded with Base64): '{digest}'"
    }


def test_unknown_token_is_an_authorizer_configuration_error(core_api: Api) -> None:
    answer = core_api.post("/initialize", seed_body("x.bin"), token="not-the-token")
    assert (answer.status_code, answer.content) == (500, b'{"message": null}')
    assert answer.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"
    assert answer.headers["x-amzn-RequestId"]


def test_missing_token_is_401(core_api: Api) -> None:
    answer = core_api.post("/initialize", seed_body("x.bin"), token=None)
    assert answer.status_code == 401
    assert answer.content == b'{"message": "Unauthorized", "statusCode": "401", "type": "UNAUTHORIZED"}'


@pytest.mark.parametrize(
    "body",
    [
        seed_body("crash/a.bin") | {"pluginPayload": {"imageKey": "crash/a.bin"}},
        seed_body("crash/b.bin") | {"pluginPayload": {"organizationId": "o", "imageKey": "crash/b.bin"}},
        seed_body("crash/c.bin") | {"pluginPayload": {"objectRecordId": "r", "imageKey": "crash/c.bin"}},
        {"plugin": "upload-s3"},
        "not json",
    ],
)
def test_initialize_without_the_two_fields_crashes_like_the_existing_handler(
    core: LocalStack, core_api: Api, body: Any
) -> None:
    before = len(files_items(core))
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    answer = core_api.http.post(
        f"{core.api_url}/initialize", headers={"Authorization": TOKEN}, timeout=30, **kwargs
    )
    assert (answer.status_code, answer.content) == (502, b'{"message": "Internal server error"}')
    assert answer.headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    assert len(files_items(core)) == before  # it crashed before writing anything


def test_this_projects_own_stack_answers_400_not_502(stack: LocalStack) -> None:
    api = Api(stack.api_url, stack.token)
    answer = api.post("/initialize", {"plugin": "upload-s3", "pluginPayload": {"imageKey": "no/fields.bin"}})
    api.http.close()
    assert answer.status_code < 500


def test_a_revoked_token_keeps_working_for_the_300_s_cache(core: LocalStack, clock: FakeClock) -> None:
    token = core.issue_token("dora", "org-4")
    api = Api(core.api_url, token)
    assert api.post("/initialize", seed_body("cache/one.bin")).status_code == 200
    core.revoke_token(token, flush_cache=False)
    clock.now += 299
    assert api.post("/initialize", seed_body("cache/two.bin")).status_code == 200
    clock.now += 2
    assert api.post("/initialize", seed_body("cache/three.bin")).status_code == 500
    api.http.close()


def test_functions_stop_after_3_s_by_default(core: LocalStack, core_api: Api) -> None:
    assert core.routes  # the gateway runs
    original = core.routes["/finalize"]
    remaining: list[int] = []

    def slow(event: Any, context: Any) -> Any:
        remaining.append(context.get_remaining_time_in_millis())
        time.sleep(3.5)
        return original(event, context)

    core.routes["/finalize"] = slow
    try:
        began = time.monotonic()
        answer = core_api.post("/finalize", {"fileId": "x", "fileKey": "y", "parts": []}, token=None)
        waited = time.monotonic() - began
    finally:
        core.routes["/finalize"] = original
    assert (answer.status_code, answer.content) == (502, b'{"message": "Internal server error"}')
    assert 2.9 < waited < 10
    assert 2000 < remaining[0] <= 3000


def test_a_raised_function_timeout() -> None:
    with LocalStack(core_only=True, function_timeout=60) as raised:
        original = raised.routes["/getPreSignedUrls"]
        raised.routes["/getPreSignedUrls"] = lambda e, c: (time.sleep(3.3), original(e, c))[1]
        answer = Api(raised.api_url, None).post(
            "/getPreSignedUrls", {"fileId": "x", "fileKey": "y", "parts": 1}
        )
    assert answer.status_code == 404  # the handler's own answer: it was given the time
