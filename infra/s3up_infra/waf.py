"""A per-token throttle in front of the API: AWS WAF rate-based rules on the stage.

API Gateway's own throttles apply to the whole stage (or per API key, which would need one API
key per token). WAF counts requests per value of the `Authorization` header instead, so one token
— a runaway script, a leaked token — is held back without slowing anyone else, and it is counted
before the authorizer runs (junk tokens cost no Lambda call). Requests without the header are
counted per source address. A blocked request gets `429` in the API's error shape.
"""

from __future__ import annotations

import json

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

WINDOW_SECONDS = 300
IP_LIMIT_FACTOR = 2
"""Requests without a token, per source address, may reach twice a token's limit (a NAT serves many)."""
THROTTLED_BODY = json.dumps(
    {
        "message": "Too Many Requests: slow down and try again in a few minutes",
        "statusCode": "429",
        "type": "THROTTLED",
    }
)


def _rate_rule(
    name: str, priority: int, limit: int, statement: dict[str, object]
) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        action=wafv2.CfnWebACL.RuleActionProperty(
            block=wafv2.CfnWebACL.BlockActionProperty(
                custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                    response_code=429, custom_response_body_key="throttled"
                )
            )
        ),
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                limit=limit, evaluation_window_sec=WINDOW_SECONDS, **statement
            )
        ),
        visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=False
        ),
    )


class PerTokenThrottle(Construct):
    """A regional web ACL with the two rate rules, associated with the API's stage."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: apigw.Stage, limit: int) -> None:
        super().__init__(scope, construct_id)
        per_token = _rate_rule(
            "per-token",
            0,
            limit,
            {
                "aggregate_key_type": "CUSTOM_KEYS",
                "custom_keys": [
                    wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                        header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                            name="authorization",
                            text_transformations=[
                                wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                            ],
                        )
                    )
                ],
            },
        )
        per_address = _rate_rule(
            "per-address-without-token",
            1,
            limit * IP_LIMIT_FACTOR,
            {
                "aggregate_key_type": "IP",
                "scope_down_statement": wafv2.CfnWebACL.StatementProperty(
                    not_statement=wafv2.CfnWebACL.NotStatementProperty(
                        statement=wafv2.CfnWebACL.StatementProperty(
                            size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                                comparison_operator="GT",
                                size=0,
                                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                                    single_header={"Name": "authorization"}
                                ),
                                text_transformations=[
                                    wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                                ],
                            )
                        )
                    )
                ),
            },
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            description="s3up - requests per 5 minutes per token, and per address without one",
            custom_response_bodies={
                "throttled": wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=THROTTLED_BODY
                )
            },
            rules=[per_token, per_address],
            visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name="s3up-api", sampled_requests_enabled=False
            ),
        )
        stack = Stack.of(self)
        association = wafv2.CfnWebACLAssociation(
            self,
            "Association",
            resource_arn=f"arn:{stack.partition}:apigateway:{stack.region}::/restapis/{stage.rest_api.rest_api_id}"
            f"/stages/{stage.stage_name}",
            web_acl_arn=self.web_acl.attr_arn,
        )
        association.node.add_dependency(stage)
