"""The upload bucket and the DynamoDB tables."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match
from infra_support import Synth


def bucket_policy_statements(synth: Synth) -> list[dict[str, Any]]:
    return synth.bucket_policy("Storage")


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


def test_no_cors_rule_lets_browser_pages_use_the_bucket(default_synth: Synth) -> None:
    # Finding 13: CORS allowed any origin. The app and the command line are no browsers.
    assert "CorsConfiguration" not in default_synth.bucket("Storage")
    assert "CorsConfiguration" not in json.dumps(default_synth.json)


def test_lifecycle_aborts_incomplete_uploads_after_seven_days_and_expires_old_versions(
    default_synth: Synth,
) -> None:
    bucket = default_synth.bucket("Storage")
    assert bucket["LifecycleConfiguration"]["Rules"] == [
        {
            "Id": "abort-incomplete-multipart-uploads",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
            "Status": "Enabled",
        },
        {
            "Id": "expire-noncurrent-versions",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
            "ExpiredObjectDeleteMarker": True,
            "Status": "Enabled",
        },
    ]
    assert "AccelerateConfiguration" not in bucket


def test_bucket_is_versioned_so_a_replaced_object_can_be_restored(default_synth: Synth) -> None:
    assert default_synth.bucket("Storage")["VersioningConfiguration"] == {"Status": "Enabled"}


def test_bucket_and_distribution_write_access_logs(default_synth: Synth) -> None:
    logs_id = default_synth.bucket_id("AccessLogs")
    assert default_synth.bucket("Storage")["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logs_id},
        "LogFilePrefix": "s3/",
    }
    logging = default_synth.one("AWS::CloudFront::Distribution")["DistributionConfig"]["Logging"]
    assert logging["Bucket"] == {"Fn::GetAtt": [logs_id, "RegionalDomainName"]}
    assert logging["Prefix"] == "cloudfront/"
    logs = default_synth.bucket("AccessLogs")
    assert logs["LifecycleConfiguration"]["Rules"] == [
        {"Id": "expire-access-logs", "ExpirationInDays": 90, "Status": "Enabled"}
    ]
    assert logs["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert logs["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    (writer,) = [s for s in default_synth.bucket_policy("AccessLogs") if s["Effect"] == "Allow"]
    assert writer["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert writer["Action"] == "s3:PutObject"


def test_options_add_expiration_and_acceleration(custom_synth: Synth) -> None:
    bucket = custom_synth.bucket("Storage")
    assert bucket["BucketName"] == "document-client-upload-test"
    assert bucket["AccelerateConfiguration"] == {"AccelerationStatus": "Enabled"}
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 2
    }
    assert rules["expire-objects"]["ExpirationInDays"] == 30


def table(synth: Synth, name: str) -> dict[str, Any]:
    (props,) = [
        t["Properties"]
        for t in synth.resources("AWS::DynamoDB::Table").values()
        if t["Properties"]["TableName"] == name
    ]
    return props


@pytest.mark.parametrize("name", ["Files-dev", "UploadTokens-dev"])
def test_tables_are_on_demand_with_point_in_time_recovery_and_kept(default_synth: Synth, name: str) -> None:
    props = table(default_synth, name)
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    (logical_id,) = [
        i
        for i, t in default_synth.resources("AWS::DynamoDB::Table").items()
        if t["Properties"]["TableName"] == name
    ]
    assert default_synth.json["Resources"][logical_id]["DeletionPolicy"] == "Retain"
    default_synth.template.resource_count_is("AWS::DynamoDB::Table", 2)


def test_tokens_table_is_keyed_by_the_token_hash(default_synth: Synth) -> None:
    props = table(default_synth, "UploadTokens-dev")
    assert props["KeySchema"] == [{"AttributeName": "tokenHash", "KeyType": "HASH"}]
    assert "GlobalSecondaryIndexes" not in props


def test_files_table_matches_what_the_backend_creates(default_synth: Synth) -> None:
    # The indexes /listUploads queries and the client tokens' TTL, as backend/stores/dynamodb_tables.py
    # has them.
    from backend.stores.dynamodb_tables import TTL_ATTRIBUTE, files_table_definition

    props = table(default_synth, "Files-dev")
    expected = files_table_definition("Files-dev")
    assert props["KeySchema"] == expected["KeySchema"]
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    assert props["GlobalSecondaryIndexes"] == expected["GlobalSecondaryIndexes"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
