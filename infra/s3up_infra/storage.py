"""The upload bucket: private, versioned, logged, and cleaned up by lifecycle rules."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from s3up_infra.access_logs import S3_LOG_PREFIX
from s3up_infra.config import StackConfig


class UploadBucket(Construct):
    """The private, encrypted bucket that presigned part uploads land in.

    Versioned, so that a replaced or deleted object can be restored for ``noncurrent_version_days``.
    No CORS rule: the desktop app and the command line are not browsers, and S3 answers them
    without one; a browser page on another origin cannot PUT into the bucket.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, access_logs: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        rules = [
            s3.LifecycleRule(
                id="abort-incomplete-multipart-uploads",
                abort_incomplete_multipart_upload_after=Duration.days(config.abort_incomplete_upload_days),
            ),
            s3.LifecycleRule(
                id="expire-noncurrent-versions",
                noncurrent_version_expiration=Duration.days(config.noncurrent_version_days),
                expired_object_delete_marker=True,
            ),
        ]
        if config.object_expiration_days is not None:
            rules.append(
                s3.LifecycleRule(id="expire-objects", expiration=Duration.days(config.object_expiration_days))
            )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=config.bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            transfer_acceleration=config.transfer_acceleration,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=S3_LOG_PREFIX,
            lifecycle_rules=rules,
            removal_policy=RemovalPolicy.RETAIN,
        )
