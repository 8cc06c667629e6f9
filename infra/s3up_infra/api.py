"""The REST API: routes, the TOKEN authorizer, gateway answers, stage logging, the IP allow list."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from s3up_infra.log_groups import log_group

STAGE = "prod"
# route → handler module (backend/routes.py; a test compares)
ROUTES: Mapping[str, str] = {
    "initialize": "initialize",
    "getPreSignedUrls": "presign",
    "getPreSignedTAUrls": "presign_accelerated",
    "finalize": "finalize",
    "listParts": "list_parts",
    "abortUpload": "abort_upload",
    "session": "session",
    "initializeBatch": "initialize_batch",
    "finalizeBatch": "finalize_batch",
    "listUploads": "list_uploads",
}
# What an Authorization header may hold (backend/tokens.py's HEADER_PATTERN; a test compares): a token
# of 32-512 printable ASCII characters, optionally after "Bearer ". API Gateway answers anything
# else 401 without invoking the authorizer, so junk costs no Lambda call and no table read.
IDENTITY_VALIDATION = r"^(?:[Bb][Ee][Aa][Rr][Ee][Rr] +)?[!-~]{32,512}$"
# A cached Allow is reused for this long, so a revoked or expired token keeps working up to a minute.
# Clients sign a few parts per call, so an active upload calls every few seconds: a minute still
# spares nearly every authorizer invocation and its DynamoDB read, at a revocation delay a user accepts.
AUTHORIZER_CACHE_TTL = Duration.seconds(60)
THROTTLING_RATE_LIMIT = 100  # requests per second, steady, for the whole stage
THROTTLING_BURST_LIMIT = 200

_UNAUTHORIZED = json.dumps({"message": "Unauthorized", "statusCode": "401", "type": "UNAUTHORIZED"})
_THROTTLED = json.dumps(
    {"message": "Too Many Requests: slow down and try again", "statusCode": "429", "type": "THROTTLED"}
)
# $context.error.messageString is already a quoted JSON string.
_FORBIDDEN = '{"message": $context.error.messageString, "statusCode": "403", "type": "ACCESS_DENIED"}'
_ACCESS_LOG_FIELDS = {
    "requestId": apigw.AccessLogField.context_request_id(),
    "ip": apigw.AccessLogField.context_identity_source_ip(),
    "requestTime": apigw.AccessLogField.context_request_time(),
    "httpMethod": apigw.AccessLogField.context_http_method(),
    "resourcePath": apigw.AccessLogField.context_resource_path(),
    "status": apigw.AccessLogField.context_status(),
    "responseLength": apigw.AccessLogField.context_response_length(),
    "responseLatency": apigw.AccessLogField.context_response_latency(),
    "principal": apigw.AccessLogField.context_authorizer("principal"),
    "errorType": apigw.AccessLogField.context_error_response_type(),
    "error": apigw.AccessLogField.context_error_message(),
    "authorizerError": apigw.AccessLogField.context_authorizer_error(),
}


class UploadApi(Construct):
    """The REST API with stage ``prod``; every route needs the authorizer's Allow."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        whitelist: Sequence[str] | None,
    ) -> None:
        super().__init__(scope, construct_id)
        access_logs = log_group(self, "AccessLogs")
        self.rest_api = apigw.RestApi(
            self,
            "Api",
            description="s3up upload API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            policy=whitelist_policy(whitelist) if whitelist else None,
            # Execution logging needs the account's API Gateway CloudWatch role (one per region).
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(_ACCESS_LOG_FIELDS)),
                # ERROR, and no data trace: fuller execution logs would record request headers (the token).
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                throttling_rate_limit=THROTTLING_RATE_LIMIT,
                throttling_burst_limit=THROTTLING_BURST_LIMIT,
            ),
        )
        # RestApi adds an "Endpoint" output ending in "/"; the stack's ApiUrl output replaces it.
        self.rest_api.node.try_remove_child("Endpoint")
        authorizer = apigw.TokenAuthorizer(
            self,
            "Authorizer",
            handler=functions["authorizer"],
            identity_source=apigw.IdentitySource.header("Authorization"),
            validation_regex=IDENTITY_VALIDATION,
            results_cache_ttl=AUTHORIZER_CACHE_TTL,
        )
        for route, module in ROUTES.items():
            self.rest_api.root.add_resource(route).add_method(
                "POST",
                apigw.LambdaIntegration(functions[module], allow_test_invoke=False),
                authorizer=authorizer,
                authorization_type=apigw.AuthorizationType.CUSTOM,
            )
        self._gateway_responses()

    @property
    def url(self) -> str:
        """The base URL the app is given: ``https://<id>.execute-api.<region>.<suffix>/prod``."""
        stack = Stack.of(self)
        return f"https://{self.rest_api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}/{STAGE}"

    def _gateway_responses(self) -> None:
        json_type = "application/json"
        self.rest_api.add_gateway_response(
            "Unauthorized",
            type=apigw.ResponseType.UNAUTHORIZED,
            status_code="401",
            templates={json_type: _UNAUTHORIZED},
        )
        for construct_id, response_type in (
            ("AccessDenied", apigw.ResponseType.ACCESS_DENIED),
            ("AuthorizerFailure", apigw.ResponseType.AUTHORIZER_FAILURE),
        ):
            self.rest_api.add_gateway_response(
                construct_id, type=response_type, status_code="403", templates={json_type: _FORBIDDEN}
            )
        self.rest_api.add_gateway_response(
            "Throttled",
            type=apigw.ResponseType.THROTTLED,
            status_code="429",
            templates={json_type: _THROTTLED},
        )


def whitelist_policy(networks: Sequence[str]) -> iam.PolicyDocument:
    """A resource policy that lets callers from ``networks`` invoke the API and denies everyone else."""
    anyone = [iam.AnyPrincipal()]
    invoke = ["execute-api:Invoke"]
    every_method = ["execute-api:/*"]
    return iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(
                effect=iam.Effect.ALLOW, principals=anyone, actions=invoke, resources=every_method
            ),
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                principals=anyone,
                actions=invoke,
                resources=every_method,
                conditions={"NotIpAddress": {"aws:SourceIp": list(networks)}},
            ),
        ]
    )
