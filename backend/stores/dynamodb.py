"""The `Files` table on DynamoDB (low-level boto3 client): what runs on AWS Lambda.

`Files` (partition key `pk`, a string) holds, as docs/ARCHITECTURE.md describes:
- `pk = "filecounter"`: the atomic counter `count`;
- `pk = "<n>"`: upload number n (the request JSON text under `request`, and every `Upload` field),
  with `owner` / `ownerState` / `fileNumber`, the keys of the two listing indexes;
- `pk = "upload#<id>"`: the same fields but the request, so that one strongly consistent GetItem
  finds and checks an upload (indexes lag);
- `pk = "client#<owner>#<clientToken>"`: `uploadId`, `fileNumber`, and `ttl` (DynamoDB's TTL
  deletes it; reads ignore an expired one before that happens);
- `pk = "object#<key>"`: the key's publication (`state`, `organizationId`, `principal`,
  `uploadId`, `since`, `holdsUntil`, `version`), changed only by conditional writes.
An upload's items (and its client token) are written in one transaction, and finish and abort
update both upload items (and the publication) in one transaction.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from backend.concurrency import parallel_map
from backend.files import (
    FileStore,
    Finish,
    NewUpload,
    Publication,
    PublicationLostError,
    PublicationState,
    Recorded,
    Upload,
    UploadState,
    client_token_expiry,
    owner_id,
    utc_now,
)
from backend.stores.dynamodb_tables import OWNER_INDEX, OWNER_STATE_INDEX, TTL_ATTRIBUTE
from backend.stores.dynamodb_values import (
    flag_value,
    number_value,
    optional_int,
    optional_text,
    string_value,
    text_value,
)

COUNTER_PK = "filecounter"
POINTER_PREFIX = "upload#"
CLIENT_PREFIX = "client#"
OBJECT_PREFIX = "object#"
BATCH_GET_LIMIT = 100  # keys per BatchGetItem
_INDEX_KEYS = "#owner = :owner, ownerState = :ownerState, fileNumber = :number"
_MAX_BATCH_ROUNDS = 8


def owner_state(owner: str, state: UploadState) -> str:
    """The `byOwnerState` index key of an owner's uploads in one state."""
    return f"{state.value}#{owner}"


def upload_attributes(number: int, upload: NewUpload, now: str) -> dict[str, Any]:
    """The fields both items of a new upload hold (the numbered item adds the request and index keys)."""
    attributes: dict[str, Any] = {
        "uploadId": string_value(upload.upload_id),
        "fileNumber": number_value(number),
        "fileKey": string_value(upload.file_key),
        "principal": string_value(upload.principal),
        "organizationId": string_value(upload.organization_id),
        "state": string_value(UploadState.UPLOADING.value),
        "contentType": string_value(upload.content_type),
        "single": {"BOOL": upload.single},
        "overwrite": {"BOOL": upload.overwrite},
        "createdAt": string_value(now),
        "updatedAt": string_value(now),
    }
    if upload.file_size is not None:
        attributes["fileSize"] = number_value(upload.file_size)
    if upload.client_token is not None:
        attributes["clientToken"] = string_value(upload.client_token)
    return attributes


def upload_from_item(item: Mapping[str, Any]) -> Upload:
    """An `Upload` from either of its items (or an index entry)."""
    return Upload(
        upload_id=text_value(item, "uploadId"),
        file_number=int(item["fileNumber"]["N"]),
        file_key=text_value(item, "fileKey"),
        principal=text_value(item, "principal"),
        organization_id=text_value(item, "organizationId"),
        state=UploadState(text_value(item, "state", UploadState.UPLOADING.value)),
        content_type=text_value(item, "contentType"),
        file_size=optional_int(item, "fileSize"),
        single=flag_value(item, "single"),
        overwrite=flag_value(item, "overwrite"),
        client_token=optional_text(item, "clientToken"),
        created_at=text_value(item, "createdAt"),
        updated_at=text_value(item, "updatedAt"),
        size=optional_int(item, "size"),
        url=optional_text(item, "url"),
        etag=optional_text(item, "etag"),
        finished_at=optional_text(item, "finishedAt"),
    )


def publication_item(publication: Publication) -> dict[str, Any]:
    return {
        "pk": string_value(OBJECT_PREFIX + publication.file_key),
        "fileKey": string_value(publication.file_key),
        "organizationId": string_value(publication.organization_id),
        "principal": string_value(publication.principal),
        "uploadId": string_value(publication.upload_id),
        "state": string_value(publication.state.value),
        "since": number_value(publication.since),
        "holdsUntil": number_value(publication.holds_until),
        "version": number_value(publication.version),
    }


def publication_from_item(item: Mapping[str, Any]) -> Publication:
    return Publication(
        file_key=text_value(item, "fileKey"),
        organization_id=text_value(item, "organizationId"),
        principal=text_value(item, "principal"),
        upload_id=text_value(item, "uploadId"),
        state=PublicationState(text_value(item, "state")),
        since=float(item["since"]["N"]),
        holds_until=float(item.get("holdsUntil", {}).get("N", "0")),
        version=int(item["version"]["N"]),
    )


def client_pk(principal: str, organization_id: str, client_token: str) -> str:
    return f"{CLIENT_PREFIX}{owner_id(principal, organization_id)}#{client_token}"


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DynamoFileStore(FileStore):
    """The `Files` table through a low-level boto3 DynamoDB client."""

    def __init__(self, dynamodb: Any, table: str, *, parallel_calls: int = 1) -> None:
        self._db = dynamodb
        self.table = table
        self._parallel_calls = parallel_calls

    # ---- reading ---------------------------------------------------------------------------
    def _get(self, pk: str) -> dict[str, Any] | None:
        answer = self._db.get_item(TableName=self.table, Key={"pk": string_value(pk)}, ConsistentRead=True)
        return answer.get("Item")

    def _batch_get(self, pks: Sequence[str]) -> dict[str, dict[str, Any]]:
        """pk → item for the items that exist (BatchGetItem, strongly consistent, all rounds)."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(pks)), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self.table: {"Keys": [{"pk": string_value(pk)} for pk in chunk], "ConsistentRead": True}
            }
            for attempt in range(_MAX_BATCH_ROUNDS):
                answer = self._db.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"]] = item
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))  # DynamoDB asks the caller to back off
            else:
                raise RuntimeError("DynamoDB left keys unprocessed after repeated BatchGetItem calls")
        return found

    def find(self, upload_id: str) -> Upload | None:
        item = self._get(POINTER_PREFIX + upload_id)
        return self._complete(item) if item else None

    def find_many(self, upload_ids: Sequence[str]) -> dict[str, Upload]:
        items = self._batch_get([POINTER_PREFIX + upload_id for upload_id in upload_ids])
        return {item["pk"]["S"][len(POINTER_PREFIX) :]: self._complete(item) for item in items.values()}

    def _complete(self, pointer: dict[str, Any]) -> Upload:
        """The upload of a pointer item; pointers written before they carried every field (no
        `organizationId`) are completed from their numbered item."""
        if "organizationId" not in pointer:
            numbered = self._get(pointer["fileNumber"]["N"]) or {}
            pointer = {
                **numbered,
                **pointer,
                "organizationId": numbered.get("organizationId", string_value("")),
            }
        item = dict(pointer)
        item.setdefault("uploadId", string_value(pointer["pk"]["S"][len(POINTER_PREFIX) :]))
        return upload_from_item(item)

    def find_client_tokens(
        self, principal: str, organization_id: str, tokens: Sequence[str]
    ) -> dict[str, Upload]:
        return self._client_token_uploads(principal, organization_id, tokens)

    def _client_token_uploads(
        self, principal: str, organization_id: str, tokens: Sequence[str]
    ) -> dict[str, Upload]:
        pks = {client_pk(principal, organization_id, token): token for token in tokens}
        now = time.time()
        live = {
            pks[pk]: item["uploadId"]["S"]
            for pk, item in self._batch_get(list(pks)).items()
            if float(item.get(TTL_ATTRIBUTE, {}).get("N", "0")) > now
        }
        uploads = self.find_many(list(live.values()))
        return {token: uploads[upload_id] for token, upload_id in live.items() if upload_id in uploads}

    def list_uploads(
        self,
        principal: str,
        organization_id: str,
        *,
        state: UploadState | None,
        limit: int,
        before: int | None = None,
    ) -> list[Upload]:
        owner = owner_id(principal, organization_id)
        if state is None:
            index, key_name, key = OWNER_INDEX, "owner", owner
        else:
            index, key_name, key = OWNER_STATE_INDEX, "ownerState", owner_state(owner, state)
        condition = "#k = :k"
        values: dict[str, Any] = {":k": string_value(key)}
        if before is not None:
            condition += " AND fileNumber < :before"
            values[":before"] = number_value(before)
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#k": key_name},
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        uploads: list[Upload] = []
        while len(uploads) < limit:
            answer = self._db.query(**query, Limit=limit - len(uploads))
            uploads.extend(upload_from_item(item) for item in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return uploads

    def get_publications(self, keys: Sequence[str]) -> dict[str, Publication]:
        items = self._batch_get([OBJECT_PREFIX + key for key in keys])
        return {item["fileKey"]["S"]: publication_from_item(item) for item in items.values()}

    # ---- writing ---------------------------------------------------------------------------
    def reserve_numbers(self, count: int) -> int:
        if count < 1:
            raise ValueError("reserve at least one number")
        answer = self._db.update_item(
            TableName=self.table,
            Key={"pk": string_value(COUNTER_PK)},
            UpdateExpression="ADD #count :n",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues={":n": number_value(count)},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["count"]["N"]) - count + 1

    def record_many(self, entries: Sequence[tuple[int, NewUpload]]) -> list[Recorded]:
        # One transaction per upload (a batch's would exceed DynamoDB's 100-item, 4 MB limits),
        # sent side by side.
        return parallel_map(lambda entry: self._record(*entry), entries, workers=self._parallel_calls)

    def _record(self, number: int, upload: NewUpload) -> Recorded:
        now = utc_now()
        attributes = upload_attributes(number, upload, now)
        owner = owner_id(upload.principal, upload.organization_id)
        item = {
            "pk": string_value(str(number)),
            "request": string_value(upload.request_json),
            "owner": string_value(owner),
            "ownerState": string_value(owner_state(owner, UploadState.UPLOADING)),
            **attributes,
        }
        absent = "attribute_not_exists(pk)"
        writes: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": absent}},
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {"pk": string_value(POINTER_PREFIX + upload.upload_id), **attributes},
                    "ConditionExpression": absent,
                }
            },
        ]
        if upload.client_token is not None:
            recorded_at = time.time()
            writes.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            "pk": string_value(
                                client_pk(upload.principal, upload.organization_id, upload.client_token)
                            ),
                            "uploadId": string_value(upload.upload_id),
                            "fileNumber": number_value(number),
                            TTL_ATTRIBUTE: number_value(client_token_expiry(recorded_at)),
                        },
                        # An expired record that DynamoDB's TTL has not deleted yet may be replaced.
                        "ConditionExpression": f"{absent} OR #ttl <= :now",
                        "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
                        "ExpressionAttributeValues": {":now": number_value(int(recorded_at))},
                    }
                }
            )
        try:
            self._db.transact_write_items(
                TransactItems=writes,
                # The SDK retries a call whose answer was lost; the same token makes that retry a no-op.
                ClientRequestToken=hashlib.sha256(upload.upload_id.encode()).hexdigest()[:36],
            )
        except self._db.exceptions.TransactionCanceledException as exc:
            return self._after_cancel(exc, number, upload)
        return Recorded(Upload.started(number, upload, now), created=True)

    def _after_cancel(self, exc: Any, number: int, upload: NewUpload) -> Recorded:
        """Why a record transaction failed: our own earlier write, or a client token already taken."""
        mine = self.find(upload.upload_id)
        if mine is not None and mine.file_number == number:
            return Recorded(mine, created=True)  # a retry of a write that had in fact succeeded
        reasons = exc.response.get("CancellationReasons") or []
        if (
            upload.client_token is not None
            and len(reasons) == 3
            and reasons[2].get("Code") == "ConditionalCheckFailed"
        ):
            taken = self._client_token_uploads(
                upload.principal, upload.organization_id, [upload.client_token]
            )
            if upload.client_token in taken:
                return Recorded(taken[upload.client_token], created=False)
        raise exc

    def _update_both(
        self,
        upload: Upload,
        state: UploadState,
        fields: Mapping[str, dict[str, Any]],
        extra: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Set `state` and `fields` on both upload items (and run `extra` writes) in one transaction."""
        names = {"#state": "state", **{f"#f{i}": name for i, name in enumerate(fields)}}
        numbered_names = {**names, "#owner": "owner"}
        values = {
            ":state": string_value(state.value),
            **{f":f{i}": value for i, value in enumerate(fields.values())},
        }
        assignments = ", ".join(["#state = :state", *(f"#f{i} = :f{i}" for i in range(len(fields)))])
        owner = owner_id(upload.principal, upload.organization_id)
        # `owner` too: an item written before the listing indexes existed joins them when it changes.
        numbered_values = {
            **values,
            ":owner": string_value(owner),
            ":ownerState": string_value(owner_state(owner, state)),
            ":number": number_value(upload.file_number),
        }
        self._db.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": string_value(str(upload.file_number))},
                        "UpdateExpression": f"SET {assignments}, {_INDEX_KEYS}",
                        "ExpressionAttributeNames": numbered_names,
                        "ExpressionAttributeValues": numbered_values,
                    }
                },
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": string_value(POINTER_PREFIX + upload.upload_id)},
                        "UpdateExpression": f"SET {assignments}",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                },
                *extra,
            ]
        )

    def mark_finished(self, upload: Upload, finish: Finish, publication: Publication | None = None) -> Upload:
        now = utc_now()
        fields: dict[str, dict[str, Any]] = {
            "updatedAt": string_value(now),
            "finishedAt": string_value(now),
            "size": number_value(finish.size),
        }
        if finish.url is not None:
            fields["url"] = string_value(finish.url)
        if finish.etag is not None:
            fields["etag"] = string_value(finish.etag)
        extra: list[dict[str, Any]] = []
        if publication is not None:
            extra.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": publication_item(publication.published_by(upload)),
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": number_value(publication.version)},
                    }
                }
            )
        try:
            self._update_both(upload, UploadState.FINISHED, fields, extra)
        except self._db.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if (
                publication is not None
                and len(reasons) == 3
                and reasons[2].get("Code") == "ConditionalCheckFailed"
            ):
                raise PublicationLostError(publication.file_key) from None
            raise
        return upload.finished(finish, now)

    def mark_aborted(self, upload: Upload) -> None:
        self._update_both(upload, UploadState.ABORTED, {"updatedAt": string_value(utc_now())})

    def put_publication(self, new: Publication, expected: Publication | None) -> Publication | None:
        stored = replace(new, version=(expected.version if expected else 0) + 1)
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        if expected is not None:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": number_value(expected.version)},
            }
        try:
            self._db.put_item(TableName=self.table, Item=publication_item(stored), **condition)
        except self._db.exceptions.ConditionalCheckFailedException:
            return None
        return stored

    def delete_publication(self, expected: Publication) -> bool:
        try:
            self._db.delete_item(
                TableName=self.table,
                Key={"pk": string_value(OBJECT_PREFIX + expected.file_key)},
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": number_value(expected.version)},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True
