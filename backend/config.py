"""The handlers' settings: one immutable `Config`, read from the environment on AWS Lambda.

In-process callers (the local stack, tests) build a `Config` directly, so two stacks in one
process never share settings through `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_FILES_TABLE = "Files"
DEFAULT_TOKENS_TABLE = "UploadTokens"
DYNAMODB_STORE = "dynamodb"
DEFAULT_URL_EXPIRY = 300
DEFAULT_MAX_METADATA_BYTES = 65536
DEFAULT_PARTS_KEPT_DAYS = 7
MAX_URL_EXPIRY = 7 * 24 * 3600  # the longest lifetime SigV4 presigned URLs allow
MAX_METADATA_LIMIT = 300_000  # stays well under DynamoDB's 400 KB item limit


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class Config:
    """Everything a handler needs to know about its deployment. Hashable, so it can key caches."""

    bucket: str = ""
    files_table: str = DEFAULT_FILES_TABLE
    tokens_table: str = DEFAULT_TOKENS_TABLE
    url_expiry: int = DEFAULT_URL_EXPIRY
    cdn_base_url: str | None = None
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES
    s3_endpoint_url: str | None = None
    dynamodb_endpoint_url: str | None = None
    s3_public_endpoint_url: str | None = None
    region: str | None = None
    core_only: bool = False
    """Mimic the existing deployment (local stack only; never read from the environment)."""
    table_store: str = DYNAMODB_STORE
    """Where uploads and tokens are kept: "dynamodb" (the tables above), or the path of a SQLite file."""
    parts_kept_days: int = DEFAULT_PARTS_KEPT_DAYS
    """After how many days the bucket's lifecycle rule aborts an unfinished multipart upload."""

    def __post_init__(self) -> None:
        if not 1 <= self.url_expiry <= MAX_URL_EXPIRY:
            raise ConfigError(f"URL_EXPIRY must be 1..{MAX_URL_EXPIRY} seconds, not {self.url_expiry}")
        if not 1 <= self.max_metadata_bytes <= MAX_METADATA_LIMIT:
            raise ConfigError(
                f"MAX_METADATA_BYTES must be 1..{MAX_METADATA_LIMIT}, not {self.max_metadata_bytes}"
            )
        if not self.files_table or not self.tokens_table:
            raise ConfigError("FILES_TABLE and TOKENS_TABLE must not be empty")
        if not 1 <= self.parts_kept_days <= 3650:
            raise ConfigError(f"PARTS_KEPT_DAYS must be 1..3650 days, not {self.parts_kept_days}")
        if not self.table_store:
            raise ConfigError('TABLE_STORE must be "dynamodb" or the path of a SQLite file')

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read the variables listed in docs/ARCHITECTURE.md; unset or empty ones take their defaults.

        `BUCKET_NAME` may be unset here (the authorizer does not need it); `require_bucket`
        fails when a handler that needs it runs without it.
        """
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: int) -> int:
            raw = text(name)
            if raw is None:
                return default
            try:
                return int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None

        cdn = text("CDN_BASE_URL")
        return cls(
            bucket=text("BUCKET_NAME") or "",
            files_table=text("FILES_TABLE") or DEFAULT_FILES_TABLE,
            tokens_table=text("TOKENS_TABLE") or DEFAULT_TOKENS_TABLE,
            url_expiry=number("URL_EXPIRY", DEFAULT_URL_EXPIRY),
            cdn_base_url=cdn.rstrip("/") if cdn else None,
            max_metadata_bytes=number("MAX_METADATA_BYTES", DEFAULT_MAX_METADATA_BYTES),
            s3_endpoint_url=text("S3_ENDPOINT_URL"),
            dynamodb_endpoint_url=text("DYNAMODB_ENDPOINT_URL"),
            s3_public_endpoint_url=text("S3_PUBLIC_ENDPOINT_URL"),
            region=text("AWS_REGION") or text("AWS_DEFAULT_REGION"),
            table_store=text("TABLE_STORE") or DYNAMODB_STORE,
            parts_kept_days=number("PARTS_KEPT_DAYS", DEFAULT_PARTS_KEPT_DAYS),
        )

    def require_bucket(self) -> str:
        """The bucket name; raises `ConfigError` when `BUCKET_NAME` was not set."""
        if not self.bucket:
            raise ConfigError("BUCKET_NAME is not set")
        return self.bucket

    @property
    def presign_endpoint_url(self) -> str | None:
        """The endpoint presigned URLs name: the public one when set, else the S3 endpoint."""
        return self.s3_public_endpoint_url or self.s3_endpoint_url

    @property
    def sqlite_path(self) -> str | None:
        """The SQLite file that holds uploads and tokens, or None when they are on DynamoDB."""
        return None if self.table_store == DYNAMODB_STORE else self.table_store

    @property
    def is_local(self) -> bool:
        """True when S3 is reached through an explicit endpoint rather than AWS."""
        return self.s3_endpoint_url is not None
