"""The `Files` and tokens tables on DynamoDB (low-level boto3 client): what runs on AWS Lambda.

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
from backend.tokens import TokenRecord, TokenStore

COUNTER_PK = "filecounter"
POINTER_PREFIX = "upload#"
CLIENT_PREFIX = "client#"
OBJECT_PREFIX = "object#"
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
BATCH_GET_LIMIT = 100  # keys per BatchGetItem
_MAX_BATCH_ROUNDS = 8


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def _text(item: Mapping[str, Any], name: str, default: str = "") -> str:
    return str(item.get(name, {}).get("S", default))


def _optional_text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return None if value is None else str(value)


def _optional_int(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name, {}).get("N")
    return None if value is None else int(float(value))


def _flag(item: Mapping[str, Any], name: str) -> bool:
    return bool(item.get(name, {}).get("BOOL", False))


def owner_state(owner: str, state: UploadState) -> str:
    """The `byOwnerState` index key of an owner's uploads in one state."""
    return f"{state.value}#{owner}"


def upload_attributes(number: int, upload: NewUpload, now: str) -> dict[str, Any]:
    """The fields both items of a new upload hold (the numbered item adds the request and index keys)."""
    attributes: dict[str, Any] = {
        "uploadId": _s(upload.upload_id),
        "fileNumber": _n(number),
        "fileKey": _s(upload.file_key),
        "principal": _s(upload.principal),
        "organizationId": _s(upload.organization_id),
        "state": _s(UploadState.UPLOADING.value),
        "contentType": _s(upload.content_type),
        "single": {"BOOL": upload.single},
        "overwrite": {"BOOL": upload.overwrite},
        "createdAt": _s(now),
        "updatedAt": _s(now),
    }
    if upload.file_size is not None:
        attributes["fileSize"] = _n(upload.file_size)
    if upload.client_token is not None:
        attributes["clientToken"] = _s(upload.client_token)
    return attributes


def upload_from_item(item: Mapping[str, Any]) -> Upload:
    """An `Upload` from either of its items (or an index entry)."""
    return Upload(
        upload_id=_text(item, "uploadId"),
        file_number=int(item["fileNumber"]["N"]),
        file_key=_text(item, "fileKey"),
        principal=_text(item, "principal"),
        organization_id=_text(item, "organizationId"),
        state=UploadState(_text(item, "state", UploadState.UPLOADING.value)),
        content_type=_text(item, "contentType"),
        file_size=_optional_int(item, "fileSize"),
        single=_flag(item, "single"),
        overwrite=_flag(item, "overwrite"),
        client_token=_optional_text(item, "clientToken"),
        created_at=_text(item, "createdAt"),
        updated_at=_text(item, "updatedAt"),
        size=_optional_int(item, "size"),
        url=_optional_text(item, "url"),
        etag=_optional_text(item, "etag"),
        finished_at=_optional_text(item, "finishedAt"),
    )


def publication_item(publication: Publication) -> dict[str, Any]:
    return {
        "pk": _s(OBJECT_PREFIX + publication.file_key),
        "fileKey": _s(publication.file_key),
        "organizationId": _s(publication.organization_id),
        "principal": _s(publication.principal),
        "uploadId": _s(publication.upload_id),
        "state": _s(publication.state.value),
        "since": _n(publication.since),
        "holdsUntil": _n(publication.holds_until),
        "version": _n(publication.version),
    }


def publication_from_item(item: Mapping[str, Any]) -> Publication:
    return Publication(
        file_key=_text(item, "fileKey"),
        organization_id=_text(item, "organizationId"),
        principal=_text(item, "principal"),
        upload_id=_text(item, "uploadId"),
        state=PublicationState(_text(item, "state")),
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

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self.table = table

    # ---- reading ---------------------------------------------------------------------------
    def _get(self, pk: str) -> dict[str, Any] | None:
        answer = self._db.get_item(TableName=self.table, Key={"pk": _s(pk)}, ConsistentRead=True)
        return answer.get("Item")

    def _batch_get(self, pks: Sequence[str]) -> dict[str, dict[str, Any]]:
        """pk → item for the items that exist (BatchGetItem, strongly consistent, all rounds)."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(pks)), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self.table: {"Keys": [{"pk": _s(pk)} for pk in chunk], "ConsistentRead": True}
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
            pointer = {**numbered, **pointer, "organizationId": numbered.get("organizationId", _s(""))}
        item = dict(pointer)
        item.setdefault("uploadId", _s(pointer["pk"]["S"][len(POINTER_PREFIX) :]))
        return upload_from_item(item)

    def find_client_tokens(
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
        values: dict[str, Any] = {":k": _s(key)}
        if before is not None:
            condition += " AND fileNumber < :before"
            values[":before"] = _n(before)
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
            Key={"pk": _s(COUNTER_PK)},
            UpdateExpression="ADD #count :n",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues={":n": _n(count)},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["count"]["N"]) - count + 1

    def record_many(self, entries: Sequence[tuple[int, NewUpload]]) -> list[Recorded]:
        # One transaction per upload (a batch's would exceed DynamoDB's 100-item, 4 MB limits),
        # sent side by side.
        return parallel_map(lambda entry: self._record(*entry), entries)

    def _record(self, number: int, upload: NewUpload) -> Recorded:
        now = utc_now()
        attributes = upload_attributes(number, upload, now)
        owner = owner_id(upload.principal, upload.organization_id)
        item = {
            "pk": _s(str(number)),
            "request": _s(upload.request_json),
            "owner": _s(owner),
            "ownerState": _s(owner_state(owner, UploadState.UPLOADING)),
            **attributes,
        }
        absent = "attribute_not_exists(pk)"
        writes: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": absent}},
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {"pk": _s(POINTER_PREFIX + upload.upload_id), **attributes},
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
                            "pk": _s(
                                client_pk(upload.principal, upload.organization_id, upload.client_token)
                            ),
                            "uploadId": _s(upload.upload_id),
                            "fileNumber": _n(number),
                            TTL_ATTRIBUTE: _n(client_token_expiry(recorded_at)),
                        },
                        # An expired record that DynamoDB's TTL has not deleted yet may be replaced.
                        "ConditionExpression": f"{absent} OR #ttl <= :now",
                        "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
                        "ExpressionAttributeValues": {":now": _n(int(recorded_at))},
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
            taken = self.find_client_tokens(upload.principal, upload.organization_id, [upload.client_token])
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
        values = {":state": _s(state.value), **{f":f{i}": value for i, value in enumerate(fields.values())}}
        assignments = ", ".join(["#state = :state", *(f"#f{i} = :f{i}" for i in range(len(fields)))])
        owner = owner_id(upload.principal, upload.organization_id)
        numbered_values = {**values, ":ownerState": _s(owner_state(owner, state))}
        self._db.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": _s(str(upload.file_number))},
                        "UpdateExpression": f"SET {assignments}, ownerState = :ownerState",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": numbered_values,
                    }
                },
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": _s(POINTER_PREFIX + upload.upload_id)},
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
            "updatedAt": _s(now),
            "finishedAt": _s(now),
            "size": _n(finish.size),
        }
        if finish.url is not None:
            fields["url"] = _s(finish.url)
        if finish.etag is not None:
            fields["etag"] = _s(finish.etag)
        extra: list[dict[str, Any]] = []
        if publication is not None:
            extra.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": publication_item(publication.published_by(upload)),
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": _n(publication.version)},
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
        self._update_both(upload, UploadState.ABORTED, {"updatedAt": _s(utc_now())})

    def put_publication(self, new: Publication, expected: Publication | None) -> Publication | None:
        stored = replace(new, version=(expected.version if expected else 0) + 1)
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        if expected is not None:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": _n(expected.version)},
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
                Key={"pk": _s(OBJECT_PREFIX + expected.file_key)},
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": _n(expected.version)},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True


# ---- tokens --------------------------------------------------------------------------------
def token_item(record: TokenRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "tokenHash": _s(record.token_hash),
        "principal": _s(record.principal),
        "organizationId": _s(record.organization_id),
        "keyPrefix": _s(record.key_prefix),
        "revoked": {"BOOL": record.revoked},
        "createdAt": _n(record.created_at),
    }
    if record.expires_at is not None:
        item["expiresAt"] = _n(record.expires_at)
    return item


def token_from_item(item: Mapping[str, Any]) -> TokenRecord:
    return TokenRecord(
        token_hash=_text(item, "tokenHash"),
        principal=_text(item, "principal"),
        organization_id=_text(item, "organizationId"),
        key_prefix=_text(item, "keyPrefix"),
        expires_at=_optional_int(item, "expiresAt"),
        revoked=_flag(item, "revoked"),
        created_at=_optional_int(item, "createdAt") or 0,
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
            TableName=self.table, Key={"tokenHash": _s(token_hash)}, ConsistentRead=True
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
                Key={"tokenHash": _s(token_hash)},
                UpdateExpression="SET revoked = :yes",
                ConditionExpression="attribute_exists(tokenHash)",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True


# ---- tables --------------------------------------------------------------------------------
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
