"""Create and remove the stack's bucket and tables (on moto, or a bucket on another S3 endpoint)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from backend.stores import dynamodb as stores


def create_tables(dynamodb: Any, files_table: str, tokens_table: str) -> None:
    """Create the `Files` table (key `pk`, listing indexes, TTL) and the tokens table (key `tokenHash`)."""
    stores.create_tables(dynamodb, files_table, tokens_table)


def delete_tables(dynamodb: Any, *tables: str) -> None:
    for table in tables:
        dynamodb.delete_table(TableName=table)


def ensure_bucket(s3: Any, bucket: str) -> bool:
    """Create the bucket unless it exists; True when it was created here."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    s3.create_bucket(Bucket=bucket)
    return True


def delete_bucket(s3: Any, bucket: str) -> None:
    """Abort the bucket's uploads, delete its objects, then the bucket."""
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)
