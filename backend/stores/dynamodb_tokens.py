"""The tokens table on DynamoDB (partition key `tokenHash`): what the authorizer reads on AWS Lambda."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.stores.dynamodb_values import flag_value, number_value, optional_int, string_value, text_value
from backend.tokens import TokenRecord, TokenStore


def token_item(record: TokenRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "tokenHash": string_value(record.token_hash),
        "principal": string_value(record.principal),
        "organizationId": string_value(record.organization_id),
        "keyPrefix": string_value(record.key_prefix),
        "revoked": {"BOOL": record.revoked},
        "createdAt": number_value(record.created_at),
    }
    if record.expires_at is not None:
        item["expiresAt"] = number_value(record.expires_at)
    return item


def token_from_item(item: Mapping[str, Any]) -> TokenRecord:
    return TokenRecord(
        token_hash=text_value(item, "tokenHash"),
        principal=text_value(item, "principal"),
        organization_id=text_value(item, "organizationId"),
        key_prefix=text_value(item, "keyPrefix"),
        expires_at=optional_int(item, "expiresAt"),
        revoked=flag_value(item, "revoked"),
        created_at=optional_int(item, "createdAt") or 0,
    )


class DynamoTokenStore(TokenStore):
    """The tokens table (partition key `tokenHash`) through a low-level boto3 DynamoDB client."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def _insert(self, record: TokenRecord) -> bool:
        try:
            self._db.put_item(
                TableName=self.table,
                Item=token_item(record),
                ConditionExpression="attribute_not_exists(tokenHash)",
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _get(self, token_hash: str) -> TokenRecord | None:
        answer = self._db.get_item(
            TableName=self.table, Key={"tokenHash": string_value(token_hash)}, ConsistentRead=True
        )
        item = answer.get("Item")
        return token_from_item(item) if item else None

    def _all(self) -> list[TokenRecord]:
        records: list[TokenRecord] = []
        for page in self._db.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            records.extend(token_from_item(item) for item in page.get("Items", []))
        return records

    def _set_revoked(self, token_hash: str) -> bool:
        try:
            self._db.update_item(
                TableName=self.table,
                Key={"tokenHash": string_value(token_hash)},
                UpdateExpression="SET revoked = :yes",
                ConditionExpression="attribute_exists(tokenHash)",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True
