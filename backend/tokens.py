"""API tokens: issued at random, stored only as SHA-256 hashes in the tokens table.

Table layout (partition key `tokenHash`, a string): `principal`, `organizationId`, `keyPrefix`,
`expiresAt` (epoch seconds, absent when the token never expires), `revoked`, `createdAt`.
A token itself is never stored and never logged; `TokenRecord.short_id` is what logs may name.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum

from backend.keys import check_prefix

TOKEN_PREFIX = "s3up_"
MIN_TOKEN_LENGTH = 8
"""The shortest token the stores accept (the local stack may register a short literal token)."""
MIN_CHOSEN_TOKEN_LENGTH = 32
"""The shortest token `python -m backend tokens create --token` accepts: the table keeps a plain
SHA-256, so a chosen token must be long enough that guessing it is hopeless."""
MAX_TOKEN_LENGTH = 512
MIN_ID_PREFIX = 8
_BEARER = re.compile(r"^\s*bearer\s+", re.IGNORECASE)
HEADER_PATTERN = re.compile(r"^(?:[Bb][Ee][Aa][Rr][Ee][Rr] +)?[!-~]{32,512}$")
"""What API Gateway lets through to the authorizer (its identity validation expression): a token
of 32-512 printable ASCII characters, optionally after "Bearer "."""


def generate_token() -> str:
    """A new token: `s3up_` and 43 URL-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The hex SHA-256 of the token, which is all the table keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_from_header(value: str | None) -> str:
    """The token in an `Authorization` value: `<token>` and `Bearer <token>` both work."""
    return _BEARER.sub("", value or "").strip()


def check_token_text(token: str, *, min_length: int = MIN_TOKEN_LENGTH) -> str:
    """Validate a chosen token; raises ValueError saying what is wrong.

    A token is sent in an HTTP header, so it is printable ASCII without spaces.
    """
    if not min_length <= len(token) <= MAX_TOKEN_LENGTH:
        raise ValueError(
            f"a token must be {min_length} to {MAX_TOKEN_LENGTH} characters long (this one has "
            f"{len(token)}); leave --token out to get a random one"
        )
    if any(not "!" <= ch <= "~" for ch in token):
        raise ValueError(
            "a token may hold only printable ASCII characters (letters, digits, punctuation), "
            "without spaces or control characters"
        )
    return token


class Rejection(StrEnum):
    """Why a token was refused (for logs; clients only ever see 401)."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"


class TokenRejectedError(Exception):
    def __init__(self, reason: Rejection, short_id: str) -> None:
        super().__init__(f"token {short_id} rejected: {reason.value}")
        self.reason = reason


@dataclass(frozen=True)
class TokenRecord:
    """One stored token (its hash, never the token)."""

    token_hash: str
    principal: str
    organization_id: str = ""
    key_prefix: str = ""
    expires_at: int | None = None
    revoked: bool = False
    created_at: int = 0

    @property
    def short_id(self) -> str:
        """The first 12 hex digits of the hash: enough to name the token in a list or a log."""
        return self.token_hash[:12]

    def rejection(self, now: float) -> Rejection | None:
        if self.revoked:
            return Rejection.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return Rejection.EXPIRED
        return None


def _check_name(value: str, what: str, *, allow_empty: bool) -> str:
    if not value and not allow_empty:
        raise ValueError(f"the {what} must not be empty")
    if len(value) > 256 or any(not ch.isprintable() for ch in value):
        raise ValueError(f"the {what} must be at most 256 printable characters")
    return value


class TokenStore(ABC):
    """Create, look up, list and revoke tokens; the storage is the subclass's (DynamoDB or SQLite)."""

    def create(
        self,
        principal: str,
        organization_id: str = "",
        key_prefix: str = "",
        expires_at: int | None = None,
        token: str | None = None,
    ) -> tuple[str, TokenRecord]:
        """Store a new token (a random one unless `token` is given) and return it with its record.

        Raises ValueError for a bad principal, organisation, prefix or token, or a token that exists.
        """
        token = check_token_text(token) if token is not None else generate_token()
        record = TokenRecord(
            token_hash=hash_token(token),
            principal=_check_name(principal, "principal", allow_empty=False),
            organization_id=_check_name(organization_id, "organisation", allow_empty=True),
            key_prefix=check_prefix(key_prefix),
            expires_at=expires_at,
            created_at=int(time.time()),
        )
        if not self._insert(record):
            raise ValueError("that token is already registered")
        return token, record

    def get(self, token: str) -> TokenRecord | None:
        """The record of `token`, or None (a strongly consistent read)."""
        if not token:
            return None
        return self._get(hash_token(token))

    def verify(self, token: str, now: float | None = None) -> TokenRecord:
        """The record of a usable token; raises `TokenRejectedError` if unknown, expired or revoked."""
        record = self.get(token)
        if record is None:
            raise TokenRejectedError(Rejection.UNKNOWN, hash_token(token)[:12] if token else "(empty)")
        reason = record.rejection(time.time() if now is None else now)
        if reason is not None:
            raise TokenRejectedError(reason, record.short_id)
        return record

    def list_all(self) -> list[TokenRecord]:
        """Every stored token, oldest first."""
        return sorted(self._all(), key=lambda r: (r.created_at, r.token_hash))

    def find(self, id_prefix: str) -> TokenRecord:
        """The one token whose hash starts with `id_prefix` (≥ 8 hex digits); raises LookupError."""
        wanted = id_prefix.strip().lower()
        if len(wanted) < MIN_ID_PREFIX or not re.fullmatch(r"[0-9a-f]+", wanted):
            raise LookupError(f"give at least {MIN_ID_PREFIX} hex digits of the token's id (see `list`)")
        matches = [r for r in self.list_all() if r.token_hash.startswith(wanted)]
        if len(matches) != 1:
            raise LookupError(
                f"{len(matches)} tokens have an id starting with {wanted}; give more digits"
                if matches
                else f"no token has an id starting with {wanted}"
            )
        return matches[0]

    def revoke(self, token_hash: str) -> None:
        """Mark a token revoked; the authorizer refuses it from then on. Raises LookupError if absent."""
        if not self._set_revoked(token_hash):
            raise LookupError("no such token")

    # ---- what a storage provides ----------------------------------------------------------
    @abstractmethod
    def _insert(self, record: TokenRecord) -> bool:
        """Store a new record; False (and nothing written) when its hash is already stored."""

    @abstractmethod
    def _get(self, token_hash: str) -> TokenRecord | None:
        """The record with this hash, strongly consistent."""

    @abstractmethod
    def _all(self) -> list[TokenRecord]:
        """Every record, in any order."""

    @abstractmethod
    def _set_revoked(self, token_hash: str) -> bool:
        """Mark the record revoked; False when there is no such record."""
