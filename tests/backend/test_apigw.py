"""Event parsing and answers: every malformed body is a 400 ApiError, never anything else."""

from __future__ import annotations

import base64
import json

import pytest

from backend.apigw import ApiError, ApiRequest, Caller, ErrorType, error_response, field_int, json_response


def event(
    body: str | None, *, b64: bool = False, headers: dict[str, str] | None = None, auth: dict | None = None
):
    return {
        "httpMethod": "POST",
        "path": "/initialize",
        "headers": headers,
        "body": body,
        "isBase64Encoded": b64,
        "requestContext": {"authorizer": auth, "identity": {"sourceIp": "10.0.0.9"}, "requestId": "r-1"},
    }


def test_parses_json_body_headers_and_caller() -> None:
    request = ApiRequest.from_event(
        event(
            '{"a": 1}',
            headers={"AUTHORIZATION": "t", "Content-Type": "application/json"},
            auth={"principalId": "alice", "principal": "alice", "organizationId": "org-7", "keyPrefix": "a/"},
        )
    )
    assert request.json == {"a": 1}
    assert request.headers["authorization"] == "t"
    assert request.headers["content-type"] == "application/json"
    assert request.caller == Caller("alice", "org-7", "a/")
    assert (request.source_ip, request.request_id, request.method) == ("10.0.0.9", "r-1", "POST")


def test_base64_body_is_decoded() -> None:
    raw = base64.b64encode(json.dumps({"k": "é"}).encode()).decode()
    assert ApiRequest.from_event(event(raw, b64=True)).json == {"k": "é"}


@pytest.mark.parametrize(
    ("body", "b64", "says"),
    [
        ("{not json", False, "not valid JSON"),
        ("[1, 2]", False, "must be a JSON object, not an array"),
        ('"text"', False, "not the string"),
        ("null", False, "not null"),
        ('{"a": NaN}', False, "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, False, "not valid JSON"),
        ('{"imageKey": "\\ud800.jpg"}', False, "unpaired surrogate"),
        ("!!!not base64", True, "not UTF-8"),
        (base64.b64encode(b"\xff\xfe").decode(), True, "not UTF-8"),
    ],
)
def test_malformed_bodies_are_400(body: str, b64: bool, says: str) -> None:
    with pytest.raises(ApiError) as caught:
        ApiRequest.from_event(event(body, b64=b64))
    assert caught.value.status == 400
    assert says in caught.value.message


def test_missing_body_is_none_and_json_asks_for_one() -> None:
    request = ApiRequest.from_event(event(None))
    assert request.body is None
    with pytest.raises(ApiError, match="no body"):
        _ = request.json


def test_no_authorizer_context_means_no_caller() -> None:
    assert ApiRequest.from_event(event("{}")).caller is None
    assert ApiRequest.from_event({}).caller is None  # not even a requestContext: still no 5xx


def test_error_answer_has_the_gateway_shape() -> None:
    answer = error_response(ApiError(ErrorType.CONFLICT, "exists"))
    assert answer["statusCode"] == 409
    assert answer["headers"]["Content-Type"] == "application/json"
    assert json.loads(answer["body"]) == {"message": "exists", "statusCode": "409", "type": "CONFLICT"}
    assert json.loads(json_response(200, {"x": 1})["body"]) == {"x": 1}


@pytest.mark.parametrize("value", [True, "3", 2.5, None, [3], 0, 11])
def test_field_int_rejects_non_integers_and_out_of_range(value: object) -> None:
    with pytest.raises(ApiError) as caught:
        field_int(value, "parts", 1, 10)
    assert '"parts"' in caught.value.message
