"""The upload bucket."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from s3up_infra.config import StackConfig


class UploadBucket(Construct):
    """The private, encrypted bucket that presigned part uploads land in."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        rules = [
            s3.LifecycleRule(
                id="abort-incomplete-multipart-uploads",
                abort_incomplete_multipart_upload_after=Duration.days(config.abort_incomplete_upload_days),
            )
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
            # Browsers may PUT parts straight to presigned URLs; they must read each part's ETag.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.PUT, s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                    allowed_origins=["*"],
                    allowed_headers=["*"],
                    exposed_headers=["ETag"],
                    max_age=3600,
                )
            ],
            lifecycle_rules=rules,
            removal_policy=RemovalPolicy.RETAIN,
        )
