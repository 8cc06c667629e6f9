"""CloudFront in front of the bucket, reading it through Origin Access Control."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct

from s3up_infra.access_logs import CDN_LOG_PREFIX

# The headers every answer carries (backend/serving.py's CDN_RESPONSE_HEADERS; a test compares).
# Objects of types a browser would run were stored with Content-Disposition: attachment.
NOSNIFF = "nosniff"
REFERRER_POLICY = cloudfront.HeadersReferrerPolicy.NO_REFERRER
HSTS_SECONDS = 365 * 24 * 3600


class Cdn(Construct):
    """An HTTPS-only distribution of the finished objects; the bucket stays private."""

    def __init__(
        self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, access_logs: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="s3up: no type sniffing, no referrer, HTTPS only",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=REFERRER_POLICY, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.seconds(HSTS_SECONDS),
                    include_subdomains=False,
                    override=True,
                ),
            ),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="s3up finished uploads",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True,
            log_bucket=access_logs,
            log_file_prefix=CDN_LOG_PREFIX,
        )

    @property
    def base_url(self) -> str:
        """``https://<distribution domain>``, the prefix of every object's URL."""
        return f"https://{self.distribution.distribution_domain_name}"
