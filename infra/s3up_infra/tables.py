"""The DynamoDB tables: uploads (``Files``) and hashed tokens.

``Files`` has two indexes that list one owner's uploads newest first (``byOwner``) and in one state
(``byOwnerState``), with the attributes ``/listUploads`` shows; and a TTL attribute that deletes
client-token records after their 7 days. backend/stores/dynamodb_tables.py declares the same (a test
compares).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from s3up_infra.config import StackConfig

OWNER_INDEX = "byOwner"
OWNER_STATE_INDEX = "byOwnerState"
TTL_ATTRIBUTE = "ttl"
INDEX_ATTRIBUTES = (
    "uploadId",
    "fileKey",
    "principal",
    "organizationId",
    "state",
    "contentType",
    "fileSize",
    "single",
    "overwrite",
    "clientToken",
    "createdAt",
    "updatedAt",
    "size",
    "url",
    "etag",
    "finishedAt",
)


class Tables(Construct):
    """On-demand tables with point-in-time recovery, kept when the stack is deleted."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        self.files = self._table("Files", config.files_table_name, "pk", time_to_live_attribute=TTL_ATTRIBUTE)
        for index, key in ((OWNER_INDEX, "owner"), (OWNER_STATE_INDEX, "ownerState")):
            self.files.add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name="fileNumber", type=dynamodb.AttributeType.NUMBER),
                projection_type=dynamodb.ProjectionType.INCLUDE,
                non_key_attributes=list(INDEX_ATTRIBUTES),
            )
        self.tokens = self._table("Tokens", config.tokens_table_name, "tokenHash")

    def _table(
        self, construct_id: str, name: str, key: str, time_to_live_attribute: str | None = None
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            table_name=name,
            partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=time_to_live_attribute,
            removal_policy=RemovalPolicy.RETAIN,
        )
