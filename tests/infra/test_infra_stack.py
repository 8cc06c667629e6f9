"""CloudFront, the stack outputs, the app entry point and the absence of deprecated APIs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk.assertions import Annotations, Match
from infra_support import INFRA_DIR, Synth, cdk_json_context


def test_cdn_reads_the_bucket_through_origin_access_control(default_synth: Synth) -> None:
    oac = default_synth.one("AWS::CloudFront::OriginAccessControl")["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("s3", "always")
    default_synth.template.resource_count_is("AWS::CloudFront::CloudFrontOriginAccessIdentity", 0)
    config = default_synth.one("AWS::CloudFront::Distribution")["DistributionConfig"]
    (origin,) = config["Origins"]
    (oac_id,) = default_synth.resources("AWS::CloudFront::OriginAccessControl")
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"


def test_only_the_distribution_may_read_the_bucket(default_synth: Synth) -> None:
    statements = default_synth.bucket_policy("Storage")
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    (distribution,) = default_synth.resources("AWS::CloudFront::Distribution")
    assert distribution in json.dumps(allow["Condition"]["StringEquals"]["AWS:SourceArn"])


def test_outputs_name_what_the_app_and_operators_need(default_synth: Synth) -> None:
    outputs = default_synth.json["Outputs"]
    assert set(outputs) == {
        "ApiUrl",
        "CdnDomain",
        "CdnBaseUrl",
        "BucketName",
        "FilesTableName",
        "TokensTableName",
        "AccessLogsBucketName",
        "Region",
    }
    assert outputs["ApiUrl"]["Value"]["Fn::Join"][1][-1] == "/prod"


def test_stack_is_named_after_env_and_needs_no_account(default_synth: Synth, custom_synth: Synth) -> None:
    assert (default_synth.stack.stack_name, custom_synth.stack.stack_name) == ("s3up-dev", "s3up-test")
    assert default_synth.stack.environment == "aws://unknown-account/unknown-region"


def test_synthesis_is_clean(default_synth: Synth, custom_synth: Synth) -> None:
    assert Annotations.from_stack(default_synth.stack).find_warning("*", Match.any_value()) == []
    assert Annotations.from_stack(default_synth.stack).find_error("*", Match.any_value()) == []
    (warning,) = Annotations.from_stack(custom_synth.stack).find_warning("*", Match.any_value())
    assert "functionTimeout=60" in json.dumps(warning.entry.data)


def test_deprecated_apis_fail_in_this_process() -> None:
    # Proves JSII_DEPRECATED=fail reached the jsii kernel, so every synthesis here used none.
    with pytest.raises(RuntimeError, match="pointInTimeRecovery is deprecated"):
        dynamodb.Table(
            Stack(App(), "Deprecated"),
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            point_in_time_recovery=True,
        )


def test_cdk_json_defaults() -> None:
    settings = json.loads((INFRA_DIR / "cdk.json").read_text())
    assert settings["app"] == "python3 app.py"
    assert (settings["notices"], settings["versionReporting"]) == (False, False)
    context = cdk_json_context()
    assert (context["env"], context["urlExpiry"], context["cli-telemetry"]) == ("dev", 300, False)
    assert "whitelistip" not in context


def load_app_module() -> ModuleType:
    """infra/app.py under another name: a plain `import app` would shadow the repository's app package."""
    spec = importlib.util.spec_from_file_location("s3up_cdk_app", INFRA_DIR / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_app_deploys_the_repository_backend() -> None:
    assert load_app_module().REPO_ROOT == INFRA_DIR.parent  # noqa: SIM300  (actual == expected)


def test_bad_cidr_stops_synthesis_with_a_clear_message(tmp_path: Path) -> None:
    # As `cdk synth --context whitelistip=...` runs it: context in CDK_CONTEXT_JSON, a fresh process.
    context = {**cdk_json_context(), "whitelistip": "203.0.113.7/32,10.0.0.300/8"}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "app.py"], cwd=INFRA_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1
    assert "s3up infra: context 'whitelistip': '10.0.0.300/8' is not an IPv4/IPv6 network" in run.stderr
    assert "Traceback" not in run.stderr
    assert not list(tmp_path.iterdir())


def test_cdn_answers_carry_the_headers_the_local_cdn_sends(default_synth: Synth) -> None:
    # Finding 5: an uploaded page must not be sniffed into something a browser runs.
    from backend.serving import CDN_RESPONSE_HEADERS

    (policy_id,) = default_synth.resources("AWS::CloudFront::ResponseHeadersPolicy")
    config = default_synth.json["Resources"][policy_id]["Properties"]["ResponseHeadersPolicyConfig"]
    security = config["SecurityHeadersConfig"]
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}
    assert security["StrictTransportSecurity"]["Override"] is True
    assert CDN_RESPONSE_HEADERS == {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    behavior = default_synth.one("AWS::CloudFront::Distribution")["DistributionConfig"][
        "DefaultCacheBehavior"
    ]
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": policy_id}


def test_each_token_is_throttled_on_its_own_by_waf(default_synth: Synth) -> None:
    # Finding 13: one stage-wide throttle was shared by every token.
    acl = default_synth.one("AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    per_token, per_address = acl["Rules"]
    rate = per_token["Statement"]["RateBasedStatement"]
    assert (rate["Limit"], rate["EvaluationWindowSec"], rate["AggregateKeyType"]) == (
        3000,
        300,
        "CUSTOM_KEYS",
    )
    assert rate["CustomKeys"] == [
        {"Header": {"Name": "authorization", "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    ]
    blocked = per_token["Action"]["Block"]["CustomResponse"]
    assert blocked["ResponseCode"] == 429
    body = json.loads(acl["CustomResponseBodies"][blocked["CustomResponseBodyKey"]]["Content"])
    assert (body["statusCode"], body["type"]) == ("429", "THROTTLED")
    address = per_address["Statement"]["RateBasedStatement"]
    assert (address["AggregateKeyType"], address["Limit"]) == ("IP", 6000)
    assert "NotStatement" in address["ScopeDownStatement"]
    association = default_synth.one("AWS::WAFv2::WebACLAssociation")
    (acl_id,) = default_synth.resources("AWS::WAFv2::WebACL")
    assert association["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (stage_id,) = default_synth.resources("AWS::ApiGateway::Stage")
    assert stage_id in json.dumps(association["ResourceArn"])


def test_rate_limit_zero_leaves_waf_out(custom_synth: Synth) -> None:
    custom_synth.template.resource_count_is("AWS::WAFv2::WebACL", 0)
