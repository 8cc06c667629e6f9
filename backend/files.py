"""The `Files` table: one numbered item per upload, plus a pointer item per S3 UploadId.

Layout (docs/ARCHITECTURE.md): `pk = "filecounter"` holds the atomic counter `count`; an upload
is `pk = "<n>"` (`request` = the request JSON text, `uploadId`, `fileKey`, `principal`,
`organizationId`, `state`, `createdAt`, `updatedAt`, `contentType`, `fileSize`; on finish `size`,
`url`, `finishedAt`); `pk = "upload#<UploadId>"` (`fileNumber`, `fileKey`, `principal`, `state`)
is written in the same transaction, so one strongly consistent GetItem finds and checks an upload.
Times are ISO 8601 UTC strings.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

COUNTER_PK = "filecounter"
POINTER_PREFIX = "upload#"


class UploadState(StrEnum):
    UPLOADING = "uploading"
    FINISHED = "finished"
    ABORTED = "aborted"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class NewUpload:
    """What `initialize` records about an upload it has started."""

    upload_id: str
    file_key: str
    principal: str
    organization_id: str
    request_json: str
    content_type: str
    file_size: int | None = None


@dataclass(frozen=True)
class UploadPointer:
    """An upload as its pointer item describes it."""

    upload_id: str
    file_number: int
    file_key: str
    principal: str
    state: UploadState


@dataclass(frozen=True)
class FinishedUpload:
    """What `finalize` recorded: the object's size and CDN URL (None without a CDN)."""

    size: int
    url: str | None


class FileStore:
    """Reads and writes the `Files` table through a low-level boto3 DynamoDB client."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def next_number(self) -> int:
        """Increment the atomic counter and return the new value (1 for the first upload)."""
        answer = self._db.update_item(
            TableName=self.table,
            Key={"pk": {"S": COUNTER_PK}},
            UpdateExpression="ADD #count :one",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["count"]["N"])

    def record(self, number: int, upload: NewUpload) -> None:
        """Write the upload's item and its pointer in one transaction (neither may exist yet)."""
        now = utc_now()
        item: dict[str, Any] = {
            "pk": {"S": str(number)},
            "request": {"S": upload.request_json},
            "uploadId": {"S": upload.upload_id},
            "fileKey": {"S": upload.file_key},
            "principal": {"S": upload.principal},
            "organizationId": {"S": upload.organization_id},
            "state": {"S": UploadState.UPLOADING.value},
            "contentType": {"S": upload.content_type},
            "createdAt": {"S": now},
            "updatedAt": {"S": now},
        }
        if upload.file_size is not None:
            item["fileSize"] = {"N": str(upload.file_size)}
        pointer = {
            "pk": {"S": POINTER_PREFIX + upload.upload_id},
            "fileNumber": {"N": str(number)},
            "fileKey": {"S": upload.file_key},
            "principal": {"S": upload.principal},
            "state": {"S": UploadState.UPLOADING.value},
        }
        absent = "attribute_not_exists(pk)"
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": absent}},
                    {"Put": {"TableName": self.table, "Item": pointer, "ConditionExpression": absent}},
                ],
                # The SDK retries a call whose answer was lost; the same token makes that retry a no-op.
                ClientRequestToken=hashlib.sha256(upload.upload_id.encode()).hexdigest()[:36],
            )
        except self._db.exceptions.TransactionCanceledException:
            # A retry of a write that had in fact succeeded finds its own items: that is success.
            found = self.find(upload.upload_id)
            if found is None or found.file_number != number:
                raise

    def find(self, upload_id: str) -> UploadPointer | None:
        """The upload with this S3 UploadId, or None (one strongly consistent GetItem)."""
        answer = self._db.get_item(
            TableName=self.table, Key={"pk": {"S": POINTER_PREFIX + upload_id}}, ConsistentRead=True
        )
        item = answer.get("Item")
        if not item:
            return None
        return UploadPointer(
            upload_id=upload_id,
            file_number=int(item["fileNumber"]["N"]),
            file_key=item["fileKey"]["S"],
            principal=item["principal"]["S"],
            state=UploadState(item.get("state", {}).get("S", UploadState.UPLOADING.value)),
        )

    def finished(self, pointer: UploadPointer) -> FinishedUpload:
        """The size and URL `mark_finished` stored for this upload."""
        answer = self._db.get_item(
            TableName=self.table, Key={"pk": {"S": str(pointer.file_number)}}, ConsistentRead=True
        )
        item = answer.get("Item", {})
        return FinishedUpload(size=int(item.get("size", {}).get("N", "0")), url=item.get("url", {}).get("S"))

    def mark_finished(self, pointer: UploadPointer, size: int, url: str | None) -> None:
        """Record the finished object's size (and URL) on the item; set both items' state."""
        now = utc_now()
        values: dict[str, Any] = {
            ":state": {"S": UploadState.FINISHED.value},
            ":now": {"S": now},
            ":size": {"N": str(size)},
        }
        names = {"#size": "size"}
        update = "SET #state = :state, updatedAt = :now, finishedAt = :now, #size = :size"
        if url is not None:
            update += ", #url = :url"
            values[":url"] = {"S": url}
            names["#url"] = "url"
        self._set_state(pointer, update, values, names)

    def mark_aborted(self, pointer: UploadPointer) -> None:
        """Set both items' state to aborted."""
        values = {":state": {"S": UploadState.ABORTED.value}, ":now": {"S": utc_now()}}
        self._set_state(pointer, "SET #state = :state, updatedAt = :now", values, {})

    def _set_state(
        self, pointer: UploadPointer, item_update: str, values: dict[str, Any], names: dict[str, str]
    ) -> None:
        state = values[":state"]
        self._db.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": {"S": str(pointer.file_number)}},
                        "UpdateExpression": item_update,
                        "ExpressionAttributeNames": {"#state": "state", **names},
                        "ExpressionAttributeValues": values,
                    }
                },
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": {"S": POINTER_PREFIX + pointer.upload_id}},
                        "UpdateExpression": "SET #state = :state",
                        "ExpressionAttributeNames": {"#state": "state"},
                        "ExpressionAttributeValues": {":state": state},
                    }
                },
            ]
        )
