"""The bucket that receives the upload bucket's S3 server access logs and CloudFront's access logs."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from s3up_infra.config import StackConfig

S3_LOG_PREFIX = "s3/"
CDN_LOG_PREFIX = "cloudfront/"


class AccessLogs(Construct):
    """A private bucket of access logs, each kept ``access_log_days``.

    CloudFront's standard logs are written with an ACL grant, so this bucket (unlike the upload
    bucket) keeps ACLs enabled, with objects owned by the bucket owner; S3 server access logs are
    allowed by a bucket policy. SSE-S3, as S3 server access logging requires.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(config.access_log_days))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
