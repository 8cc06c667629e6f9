"""The upload bucket and the DynamoDB tables."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match
from infra_support import Synth


def bucket_policy_statements(synth: Synth) -> list[dict[str, Any]]:
    return synth.one("AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"]


def test_bucket_is_named_encrypted_private_and_kept(default_synth: Synth) -> None:
    default_synth.template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "BucketName": "document-client-upload-dev",
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )


def test_bucket_refuses_plain_http_and_old_tls(default_synth: Synth) -> None:
    denies = [s for s in bucket_policy_statements(default_synth) if s["Effect"] == "Deny"]
    conditions = [s["Condition"] for s in denies]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions
    assert all(s["Principal"] == {"AWS": "*"} and s["Action"] == "s3:*" for s in denies)


def test_cors_lets_browsers_put_parts_and_read_their_etag(default_synth: Synth) -> None:
    (rule,) = default_synth.one("AWS::S3::Bucket")["CorsConfiguration"]["CorsRules"]
    assert rule["ExposedHeaders"] == ["ETag"]
    assert "PUT" in rule["AllowedMethods"]


def test_lifecycle_only_aborts_incomplete_uploads_after_a_day(default_synth: Synth) -> None:
    bucket = default_synth.one("AWS::S3::Bucket")
    assert bucket["LifecycleConfiguration"]["Rules"] == [
        {
            "Id": "abort-incomplete-multipart-uploads",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            "Status": "Enabled",
        }
    ]
    assert "AccelerateConfiguration" not in bucket


def test_options_add_expiration_and_acceleration(custom_synth: Synth) -> None:
    bucket = custom_synth.one("AWS::S3::Bucket")
    assert bucket["BucketName"] == "document-client-upload-test"
    assert bucket["AccelerateConfiguration"] == {"AccelerationStatus": "Enabled"}
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 7
    }
    assert rules["expire-objects"]["ExpirationInDays"] == 30


@pytest.mark.parametrize(("name", "key"), [("Files-dev", "pk"), ("UploadTokens-dev", "tokenHash")])
def test_tables_are_on_demand_with_point_in_time_recovery(default_synth: Synth, name: str, key: str) -> None:
    default_synth.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "TableName": name,
                "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
            "DeletionPolicy": "Retain",
        },
    )
    default_synth.template.resource_count_is("AWS::DynamoDB::Table", 2)
