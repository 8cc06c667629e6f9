"""The tables' definitions: what `create_tables` makes locally and in tests (infra/ declares the same)."""

from __future__ import annotations

from typing import Any

OWNER_INDEX = "byOwner"
OWNER_STATE_INDEX = "byOwnerState"
TTL_ATTRIBUTE = "ttl"
# What the listing indexes carry besides their keys (the request JSON stays out: it may be 64 KB).
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


def files_table_definition(table: str) -> dict[str, Any]:
    """`CreateTable` arguments for the `Files` table (infra/ declares the same; a test compares)."""
    projection = {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(INDEX_ATTRIBUTES)}
    return {
        "TableName": table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "owner", "AttributeType": "S"},
            {"AttributeName": "ownerState", "AttributeType": "S"},
            {"AttributeName": "fileNumber", "AttributeType": "N"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": key, "KeyType": "HASH"},
                    {"AttributeName": "fileNumber", "KeyType": "RANGE"},
                ],
                "Projection": projection,
            }
            for index, key in ((OWNER_INDEX, "owner"), (OWNER_STATE_INDEX, "ownerState"))
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def create_tables(dynamodb: Any, files_table: str, tokens_table: str) -> None:
    """Create the `Files` table (with its indexes and TTL) and the tokens table, on demand billing."""
    dynamodb.create_table(**files_table_definition(files_table))
    dynamodb.update_time_to_live(
        TableName=files_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    dynamodb.create_table(
        TableName=tokens_table,
        KeySchema=[{"AttributeName": "tokenHash", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tokenHash", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
