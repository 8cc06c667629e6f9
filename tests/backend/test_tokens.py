"""Tokens are stored only as hashes; the TOKEN authorizer allows stored, live tokens only."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from backend.handlers import authorizer
from backend.runtime import Services
from backend.tokens import Rejection, TokenRejectedError, hash_token, token_from_header

ARN = "arn:aws:execute-api:eu-west-1:111122223333:abc123/prod/POST/initialize"


def test_tokens_are_long_random_and_stored_only_as_hashes(services: Services) -> None:
    token, record = services.tokens.create("alice", "org-7", "alice/")
    other, _ = services.tokens.create("alice", "org-7")
    assert token != other
    assert len(token) >= 40
    assert record.token_hash == hash_token(token)
    if services.config.sqlite_path is None:
        stored = json.dumps(services.dynamodb.scan(TableName=services.config.tokens_table)["Items"])
    else:  # the database and its write-ahead log
        path = Path(services.config.sqlite_path)
        stored = "".join(p.read_bytes().decode("latin-1") for p in path.parent.glob(path.name + "*"))
    assert token not in stored
    assert other not in stored
    assert record.token_hash in stored
    assert sorted((r.principal, r.key_prefix) for r in services.tokens.list_all()) == [
        ("alice", ""),
        ("alice", "alice/"),
    ]


@pytest.mark.parametrize("header", ["{t}", "Bearer {t}", "bearer   {t}", "  {t}  "])
def test_header_forms(header: str) -> None:
    assert token_from_header(header.format(t="tok-123456")) == "tok-123456"


def test_verify_rejects_unknown_expired_and_revoked(services: Services) -> None:
    store = services.tokens
    live, _ = store.create("alice", expires_at=int(time.time()) + 60)
    expired, _ = store.create("alice", expires_at=int(time.time()) - 1)
    revoked, record = store.create("alice")
    store.revoke(record.token_hash)
    assert store.verify(live).principal == "alice"
    for token, reason in (
        (expired, Rejection.EXPIRED),
        (revoked, Rejection.REVOKED),
        ("nope-nope", Rejection.UNKNOWN),
    ):
        with pytest.raises(TokenRejectedError) as caught:
            store.verify(token)
        assert caught.value.reason is reason


def test_registering_a_chosen_token_twice_fails(services: Services) -> None:
    services.tokens.create("alice", token="chosen-token-1")
    with pytest.raises(ValueError, match="already registered"):
        services.tokens.create("bob", token="chosen-token-1")
    with pytest.raises(ValueError, match="characters"):
        services.tokens.create("bob", token="short")
    with pytest.raises(ValueError, match="principal"):
        services.tokens.create("")


def test_find_by_id_prefix(services: Services) -> None:
    _, record = services.tokens.create("alice")
    assert services.tokens.find(record.token_hash[:10]) == record
    with pytest.raises(LookupError, match="at least 8"):
        services.tokens.find("abc")
    with pytest.raises(LookupError, match="no token"):
        services.tokens.find("0" * 8 if not record.token_hash.startswith("0" * 8) else "1" * 8)
    with pytest.raises(LookupError):
        services.tokens.revoke("f" * 64)


def test_authorizer_allows_the_stage_wildcard_with_context(services: Services) -> None:
    token, _ = services.tokens.create("alice", "org-7", "alice/")
    answer = authorizer.authorize(
        {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": ARN}, services
    )
    assert answer["principalId"] == "alice"
    assert answer["policyDocument"]["Statement"] == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": "arn:aws:execute-api:eu-west-1:111122223333:abc123/prod/*/*",
        }
    ]
    assert answer["context"] == {"principal": "alice", "organizationId": "org-7", "keyPrefix": "alice/"}


def test_authorizer_refuses_with_exactly_unauthorized(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    expired, _ = services.tokens.create("alice", expires_at=int(time.time()) - 5)
    revoked, record = services.tokens.create("alice")
    services.tokens.revoke(record.token_hash)
    caplog.set_level(logging.INFO)
    for token in (None, "", "Bearer ", "unknown-token-xyz", expired, revoked):
        with pytest.raises(Exception) as caught:
            authorizer.authorize({"type": "TOKEN", "authorizationToken": token, "methodArn": ARN}, services)
        assert str(caught.value) == "Unauthorized"
    assert expired not in caplog.text
    assert revoked not in caplog.text
    assert "unknown-token-xyz" not in caplog.text
    assert "expired" in caplog.text
    assert "revoked" in caplog.text


def test_authorizer_lambda_entry_reads_the_environment(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, _ = services.tokens.create("alice", "org-7")
    monkeypatch.setenv("TOKENS_TABLE", services.config.tokens_table)
    monkeypatch.setenv("TABLE_STORE", services.config.table_store)
    monkeypatch.delenv("BUCKET_NAME", raising=False)  # the authorizer does not need it
    answer = authorizer.handler({"type": "TOKEN", "authorizationToken": token, "methodArn": ARN}, None)
    assert answer["context"]["principal"] == "alice"


def test_a_malformed_method_arn_is_a_configuration_error(services: Services) -> None:
    token, _ = services.tokens.create("alice")
    with pytest.raises(ValueError, match="method ARN"):
        authorizer.authorize({"authorizationToken": token, "methodArn": "nonsense"}, services)
