"""The REST API: routes, authorizer, gateway answers, stage settings and the IP allow list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from infra_support import Synth, synth
from s3up_infra.api import ROUTES

UNAUTHORIZED = {"message": "Unauthorized", "statusCode": "401", "type": "UNAUTHORIZED"}


def deny_statements(document: Any) -> list[dict[str, Any]]:
    return [s for s in document["Statement"] if s["Effect"] == "Deny"]


def test_every_route_is_a_post_behind_the_token_authorizer(default_synth: Synth) -> None:
    (authorizer_id,) = default_synth.resources("AWS::ApiGateway::Authorizer")
    paths = {
        logical_id: resource["Properties"]["PathPart"]
        for logical_id, resource in default_synth.resources("AWS::ApiGateway::Resource").items()
    }
    functions = {module: logical_id for module, logical_id in default_synth.function_ids().items()}
    methods = default_synth.resources("AWS::ApiGateway::Method").values()
    routed = {}
    for method in methods:
        props = method["Properties"]
        assert props["HttpMethod"] == "POST"
        assert props["AuthorizationType"] == "CUSTOM"
        assert props["AuthorizerId"] == {"Ref": authorizer_id}
        assert props["Integration"]["Type"] == "AWS_PROXY"
        uri = json.dumps(props["Integration"]["Uri"])
        (module,) = [m for m, logical_id in functions.items() if f'"{logical_id}"' in uri]
        routed[paths[props["ResourceId"]["Ref"]]] = module
    assert routed == dict(ROUTES)


def test_routes_match_the_backend_route_table() -> None:
    from backend.routes import ROUTE_MODULES

    assert {f"/{route}": module for route, module in ROUTES.items()} == dict(ROUTE_MODULES)


def test_authorizer_reads_the_authorization_header_and_caches_a_minute(default_synth: Synth) -> None:
    authorizer = default_synth.one("AWS::ApiGateway::Authorizer")
    assert authorizer["Type"] == "TOKEN"
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"
    assert authorizer["AuthorizerResultTtlInSeconds"] == 60
    assert default_synth.function_ids()["authorizer"] in json.dumps(authorizer["AuthorizerUri"])


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("s3up_" + "A" * 43, True),
        ("Bearer s3up_" + "b-" * 20, True),
        ("bearer   " + "x" * 32, True),
        ("c" * 512, True),
        ("x" * 31, False),  # finding 13: junk tokens are refused before the authorizer runs
        ("x" * 513, False),
        ("token with spaces in it and then some more", False),
        ("tökén" + "x" * 40, False),
        ("", False),
    ],
)
def test_authorizer_only_runs_for_headers_shaped_like_a_token(
    default_synth: Synth, header: str, accepted: bool
) -> None:
    from backend.tokens import HEADER_PATTERN

    pattern = default_synth.one("AWS::ApiGateway::Authorizer")["IdentityValidationExpression"]
    assert pattern == HEADER_PATTERN.pattern
    assert bool(HEADER_PATTERN.fullmatch(header)) is accepted


def gateway_responses(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("AWS::ApiGateway::GatewayResponse").values()
    }


def test_gateway_answers_have_the_contract_bodies(default_synth: Synth) -> None:
    responses = gateway_responses(default_synth)
    assert set(responses) == {"UNAUTHORIZED", "ACCESS_DENIED", "AUTHORIZER_FAILURE", "THROTTLED"}
    throttled = responses["THROTTLED"]
    assert throttled["StatusCode"] == "429"
    assert json.loads(throttled["ResponseTemplates"]["application/json"])["type"] == "THROTTLED"
    unauthorized = responses["UNAUTHORIZED"]
    assert unauthorized["StatusCode"] == "401"
    assert json.loads(unauthorized["ResponseTemplates"]["application/json"]) == UNAUTHORIZED
    for name in ("ACCESS_DENIED", "AUTHORIZER_FAILURE"):
        template = responses[name]["ResponseTemplates"]["application/json"]
        assert responses[name]["StatusCode"] == "403"
        # API Gateway substitutes a quoted JSON string for $context.error.messageString.
        body = json.loads(template.replace("$context.error.messageString", '"denied"'))
        assert body == {"message": "denied", "statusCode": "403", "type": "ACCESS_DENIED"}


def test_stage_prod_logs_measures_and_throttles(default_synth: Synth) -> None:
    stage = default_synth.one("AWS::ApiGateway::Stage")
    assert stage["StageName"] == "prod"
    access_log = stage["AccessLogSetting"]
    (group,) = [g for g in default_synth.resources("AWS::Logs::LogGroup") if g.startswith("ApiAccessLogs")]
    assert {"Ref": group} in access_log["DestinationArn"]["Fn::Join"][1]
    assert default_synth.json["Resources"][group]["Properties"]["RetentionInDays"] == 30
    fields = json.loads(access_log["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert fields["principal"] == "$context.authorizer.principal"
    assert not any("Authorization" in value for value in fields.values())
    assert stage["MethodSettings"] == [
        {
            "HttpMethod": "*",
            "ResourcePath": "/*",
            "LoggingLevel": "ERROR",
            "DataTraceEnabled": False,
            "MetricsEnabled": True,
            "ThrottlingRateLimit": 100,
            "ThrottlingBurstLimit": 200,
        }
    ]
    # execution logging needs the account's CloudWatch role for API Gateway
    assert "CloudWatchRoleArn" in default_synth.one("AWS::ApiGateway::Account")


def test_api_is_regional(default_synth: Synth) -> None:
    api = default_synth.one("AWS::ApiGateway::RestApi")
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


def test_no_allow_list_means_no_resource_policy_and_no_ip_condition(default_synth: Synth) -> None:
    assert "Policy" not in default_synth.one("AWS::ApiGateway::RestApi")
    assert "NotIpAddress" not in json.dumps(default_synth.json)


def test_allow_list_denies_every_other_caller(custom_synth: Synth) -> None:
    policy = custom_synth.one("AWS::ApiGateway::RestApi")["Policy"]
    allow, deny = policy["Statement"]
    assert allow == {
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*",
    }
    assert deny == {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.7/32", "198.51.100.0/24"]}},
    }


def test_allow_list_change_redeploys_the_stage(default_synth: Synth, custom_synth: Synth) -> None:
    # A policy edit reaches callers only through a new deployment.
    assert set(default_synth.resources("AWS::ApiGateway::Deployment")) != set(
        custom_synth.resources("AWS::ApiGateway::Deployment")
    )


@pytest.mark.parametrize(
    ("value", "networks"),
    [
        ("203.0.113.7/32", ["203.0.113.7/32"]),
        ('["203.0.113.7/32", "2001:db8::/32"]', ["203.0.113.7/32", "2001:db8::/32"]),
    ],
)
def test_each_allow_list_form_reaches_the_template(
    value: str, networks: list[str], asset_root: Path, tmp_path: Path
) -> None:
    policy = synth({"whitelistip": value}, asset_root, tmp_path).one("AWS::ApiGateway::RestApi")["Policy"]
    (deny,) = deny_statements(policy)
    assert deny["Condition"] == {"NotIpAddress": {"aws:SourceIp": networks}}
