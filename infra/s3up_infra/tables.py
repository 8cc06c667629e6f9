"""The DynamoDB tables: uploads (``Files``) and hashed tokens."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from s3up_infra.config import StackConfig


class Tables(Construct):
    """On-demand tables with point-in-time recovery, kept when the stack is deleted."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        self.files = self._table("Files", config.files_table_name, "pk")
        self.tokens = self._table("Tokens", config.tokens_table_name, "tokenHash")

    def _table(self, construct_id: str, name: str, key: str) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            table_name=name,
            partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
