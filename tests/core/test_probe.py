"""The capability probe and the reading of gateway answers, fed every 401/403/500 variant of API.md.

A fake transport answers as each kind of API does, so that no wording of the gateway can make a
missing route read as a refused token (or the other way round).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from app.core.api import ApiClient
from app.core.errors import AccessDeniedError, AuthError, NotThisApiError, RouteMissingError, ServerError

API = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
TOKEN = "WZRHGrsB-the-existing-deployments-token"
PROJECT_401 = {"message": "Unauthorized", "statusCode": "401", "type": "UNAUTHORIZED"}
Answer = tuple[int, dict[str, str], Any]
Gateway = Callable[[str, str | None], Answer]


def missing_route(authorization: str | None) -> Answer:
    """API Gateway's answer for a route it does not have, with and without an Authorization header."""
    if authorization is None:
        return (
            403,
            {"x-amzn-ErrorType": "MissingAuthenticationTokenException"},
            {"message": "Missing Authentication Token"},
        )
    digest = base64.b64encode(hashlib.sha256(authorization.encode()).digest()).decode()
    message = (
        "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and "
        f"encoded with Base64): '{digest}'."
    )
    return 403, {"x-amzn-ErrorType": "IncompleteSignatureException"}, {"message": message}


class FakeGateway(BaseAdapter):
    def __init__(self, answer: Gateway) -> None:
        super().__init__()
        self.answer = answer
        self.calls: list[tuple[str, str | None]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        route = (request.url or "").rsplit("/", 1)[-1]
        authorization = request.headers.get("Authorization")
        self.calls.append((route, authorization))
        status, headers, body = self.answer(route, authorization)
        response = requests.Response()
        response.status_code = status
        response.headers.update({"Content-Type": "application/json", **headers})
        response._content = json.dumps(body).encode()
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def client_for(answer: Gateway, token: str | None = TOKEN) -> tuple[ApiClient, FakeGateway]:
    gateway = FakeGateway(answer)
    session = requests.Session()
    session.mount("https://", gateway)
    return ApiClient(API, token, session=session), gateway


def existing_deployment(route: str, authorization: str | None) -> Answer:
    """The existing deployment: core routes only, `/initialize` behind the authorizer."""
    if route not in ("initialize", "getPreSignedUrls", "getPreSignedTAUrls", "finalize"):
        return missing_route(authorization)
    if route == "initialize" and authorization is None:
        return 401, {"x-amzn-ErrorType": "UnauthorizedException"}, PROJECT_401
    return 200, {}, {"fileId": "u1", "fileKey": "k"}


def this_project(route: str, authorization: str | None) -> Answer:
    if authorization is None:
        return 401, {"x-amzn-ErrorType": "UnauthorizedException"}, PROJECT_401
    if authorization != TOKEN:
        return 401, {"x-amzn-ErrorType": "UnauthorizedException"}, PROJECT_401
    return 200, {}, {"principal": "alice", "organizationId": "org-7", "capabilities": ["batch"]}


def test_the_existing_deployment_is_recognised_although_the_token_is_not_a_signature() -> None:
    client, gateway = client_for(existing_deployment)
    info = client.probe()
    assert not info.extended
    assert not info.token_verified
    assert all(authorization is None for _, authorization in gateway.calls), "the probe sent the token"


def test_this_projects_api_is_recognised_and_the_token_checked() -> None:
    client, gateway = client_for(this_project)
    info = client.probe()
    assert info.extended
    assert info.token_verified
    assert info.principal == "alice"
    assert info.capabilities == frozenset({"batch"})
    assert gateway.calls == [("session", None), ("session", TOKEN)]


def test_a_refused_token_on_this_projects_api_reads_as_refused() -> None:
    client, _ = client_for(this_project, token="wrong")
    with pytest.raises(AuthError, match="rejected the token"):
        client.probe()


def test_a_denied_token_on_this_projects_api_reads_as_denied() -> None:
    def denying(route: str, authorization: str | None) -> Answer:
        if authorization is None:
            return 401, {}, PROJECT_401
        return 403, {}, {"message": "not for you", "statusCode": "403", "type": "ACCESS_DENIED"}

    client, _ = client_for(denying)
    with pytest.raises(AccessDeniedError, match="refused this request for your token"):
        client.probe()


@pytest.mark.parametrize("authorization", [None, TOKEN])
def test_any_gateway_403_on_an_extension_route_means_no_such_route(authorization: str | None) -> None:
    client, _ = client_for(lambda route, _auth: missing_route(authorization))
    with pytest.raises(RouteMissingError, match="has no /listParts route") as caught:
        client.list_parts("u1", "k")
    assert not isinstance(caught.value, (AuthError, AccessDeniedError))


@pytest.mark.parametrize(
    "answer",
    [
        (403, {}, {"Message": "User is not authorized to access this resource with an explicit deny"}),
        (403, {}, {"message": "Forbidden"}),
        (403, {"x-amzn-ErrorType": "AccessDeniedException"}, {"message": "some new wording"}),
    ],
)
def test_an_unfamiliar_403_on_an_extension_route_is_not_a_refused_token(answer: Answer) -> None:
    client, _ = client_for(lambda route, _auth: answer)
    with pytest.raises(RouteMissingError):
        client.abort("u1", "k")


def test_explicit_deny_on_initialize_says_the_access_policy_refused_it() -> None:
    deny = {"Message": "User is not authorized to access this resource with an explicit deny"}
    client, _ = client_for(lambda route, _auth: (403, {"x-amzn-ErrorType": "AccessDeniedException"}, deny))
    with pytest.raises(AccessDeniedError, match="access policy refused") as caught:
        client.initialize({"plugin": "upload-s3", "pluginPayload": {}}, extended=False)
    assert caught.value.server_message.endswith("explicit deny")


def test_a_missing_core_route_is_a_wrong_address_not_a_refused_token() -> None:
    client, _ = client_for(lambda route, auth: missing_route(auth))
    with pytest.raises(NotThisApiError, match="Nothing at this address answers like the upload API"):
        client.probe()


def test_the_existing_deployments_authorizer_failure_reads_as_a_rejected_token() -> None:
    failing = (500, {"x-amzn-ErrorType": "AuthorizerConfigurationException"}, {"message": None})
    client, _ = client_for(lambda route, _auth: failing)
    with pytest.raises(AuthError, match="rejected the token"):
        client.initialize({"plugin": "upload-s3", "pluginPayload": {}}, extended=False)


def test_a_500_without_the_authorizer_header_is_a_server_fault_without_a_promise() -> None:
    client, _ = client_for(lambda route, _auth: (500, {}, {"message": None}))
    with pytest.raises(ServerError) as caught:
        client.initialize({"plugin": "upload-s3", "pluginPayload": {}}, extended=False)
    assert "tried again" not in caught.value.message  # only the engine knows whether a retry is scheduled


def test_an_api_that_needs_no_token_is_not_the_upload_api() -> None:
    client, _ = client_for(lambda route, _auth: (200, {}, {}))
    with pytest.raises(NotThisApiError, match="without a token"):
        client.probe()
