"""The s3up stack: wires the constructs together and exports what the app and operators need."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import App, CfnOutput, Stack, Tags
from constructs import Construct

from s3up_infra.access_logs import AccessLogs
from s3up_infra.api import UploadApi
from s3up_infra.cdn import Cdn
from s3up_infra.config import StackConfig, parse_config
from s3up_infra.functions import Functions
from s3up_infra.storage import UploadBucket
from s3up_infra.tables import Tables
from s3up_infra.waf import PerTokenThrottle


class S3upStack(Stack):
    """Bucket, tables, functions, API and CDN of one deployment (``env``)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, asset_root: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        access_logs = AccessLogs(self, "AccessLogs", config=config).bucket
        bucket = UploadBucket(self, "Storage", config=config, access_logs=access_logs).bucket
        tables = Tables(self, "Tables", config=config)
        cdn = Cdn(self, "Cdn", bucket=bucket, access_logs=access_logs)
        functions = Functions(
            self,
            "Functions",
            config=config,
            asset_root=asset_root,
            bucket=bucket,
            files=tables.files,
            tokens=tables.tokens,
            cdn_base_url=cdn.base_url,
        )
        api = UploadApi(self, "Api", functions=functions.by_name, whitelist=config.whitelist)
        if config.rate_limit_per_token:
            PerTokenThrottle(
                self, "Throttle", stage=api.rest_api.deployment_stage, limit=config.rate_limit_per_token
            )

        CfnOutput(self, "ApiUrl", value=api.url, description="The API base URL to give the app")
        CfnOutput(self, "CdnDomain", value=cdn.distribution.distribution_domain_name)
        CfnOutput(self, "CdnBaseUrl", value=cdn.base_url, description="The app's CDN base URL")
        CfnOutput(self, "BucketName", value=bucket.bucket_name)
        CfnOutput(self, "FilesTableName", value=tables.files.table_name)
        CfnOutput(self, "TokensTableName", value=tables.tokens.table_name)
        CfnOutput(self, "AccessLogsBucketName", value=access_logs.bucket_name)
        CfnOutput(self, "Region", value=self.region)


def build(app: App, asset_root: Path) -> S3upStack:
    """Add the stack named ``s3up-<env>`` to ``app``, configured from the app's context.

    The stack is environment-agnostic: the account and region are those ``cdk deploy`` runs with.
    Raises ``ConfigError`` when a context value is wrong.
    """
    config = parse_config(app.node.try_get_context)
    stack = S3upStack(
        app,
        f"s3up-{config.env}",
        config=config,
        asset_root=asset_root,
        description=f"s3up upload API ({config.env})",
    )
    Tags.of(stack).add("project", "s3up")
    Tags.of(stack).add("s3up:env", config.env)
    return stack
