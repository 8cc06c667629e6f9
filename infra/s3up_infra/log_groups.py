"""Log groups with the project's retention, made explicitly (the non-deprecated way to set retention)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

RETENTION = logs.RetentionDays.ONE_MONTH


def log_group(scope: Construct, construct_id: str) -> logs.LogGroup:
    """A log group kept for a month and deleted with the stack (its entries expire anyway)."""
    return logs.LogGroup(scope, construct_id, retention=RETENTION, removal_policy=RemovalPolicy.DESTROY)
