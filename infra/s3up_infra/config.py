"""The deployment's settings, read from CDK context and checked before any resource is built.

Context values come as JSON values from ``cdk.json`` and as strings from ``--context key=value``;
both are accepted. This module does not import ``aws_cdk`` so that it can be tested on its own.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

BUCKET_PREFIX = "document-client-upload-"
# S3 bucket names are at most 63 characters; the prefix takes 23 of them.
_ENV_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
# SigV4 presigned URLs are valid for at most 7 days.
MAX_URL_EXPIRY = 7 * 24 * 3600
MAX_FUNCTION_TIMEOUT = 900
DEFAULT_ABORT_INCOMPLETE_UPLOAD_DAYS = 7
DEFAULT_NONCURRENT_VERSION_DAYS = 30
DEFAULT_ACCESS_LOG_DAYS = 90
DEFAULT_RATE_LIMIT_PER_TOKEN = 3000
MIN_RATE_LIMIT = 10  # the least AWS WAF's rate-based rules accept


class ConfigError(ValueError):
    """A context value is missing or wrong; the message names the key and what is expected."""


@dataclass(frozen=True)
class StackConfig:
    """Everything the stack needs to know, validated."""

    env: str
    url_expiry: int
    function_timeout: int
    whitelist: tuple[str, ...] | None
    transfer_acceleration: bool
    abort_incomplete_upload_days: int
    object_expiration_days: int | None
    noncurrent_version_days: int = DEFAULT_NONCURRENT_VERSION_DAYS
    """How long a replaced or deleted object's previous version is kept."""
    access_log_days: int = DEFAULT_ACCESS_LOG_DAYS
    """How long the bucket's and the distribution's access logs are kept."""
    rate_limit_per_token: int = DEFAULT_RATE_LIMIT_PER_TOKEN
    """Requests per 5 minutes one Authorization value may make (AWS WAF); 0 means no WAF."""

    @property
    def bucket_name(self) -> str:
        """The upload bucket's name, as the existing deployment names it."""
        return f"{BUCKET_PREFIX}{self.env}"

    @property
    def files_table_name(self) -> str:
        """The uploads table; suffixed with ``env`` so that several deployments share an account."""
        return f"Files-{self.env}"

    @property
    def tokens_table_name(self) -> str:
        """The hashed-tokens table."""
        return f"UploadTokens-{self.env}"


def parse_config(get: Callable[[str], Any]) -> StackConfig:
    """Read and check every setting through ``get`` (e.g. ``app.node.try_get_context``).

    Raises ``ConfigError`` on the first wrong value.
    """
    env = _text(get("env"), "env")
    if not _ENV_PATTERN.match(env):
        raise ConfigError(
            f"context 'env' must be 1-40 lowercase letters, digits or hyphens (it names the bucket "
            f"{BUCKET_PREFIX}<env>), got {env!r}"
        )
    expiration = get("objectExpirationDays")
    rate_limit = _optional_integer(get, "rateLimitPerToken", DEFAULT_RATE_LIMIT_PER_TOKEN, 0, 2_000_000_000)
    if 0 < rate_limit < MIN_RATE_LIMIT:
        raise ConfigError(
            f"context 'rateLimitPerToken' must be 0 (no limit) or at least {MIN_RATE_LIMIT} requests per "
            f"5 minutes, got {rate_limit}"
        )
    return StackConfig(
        env=env,
        url_expiry=_integer(get("urlExpiry"), "urlExpiry", 1, MAX_URL_EXPIRY),
        function_timeout=_integer(get("functionTimeout"), "functionTimeout", 1, MAX_FUNCTION_TIMEOUT),
        whitelist=parse_whitelist(get("whitelistip")),
        transfer_acceleration=_boolean(get("transferAcceleration"), "transferAcceleration"),
        abort_incomplete_upload_days=_optional_integer(
            get, "abortIncompleteUploadDays", DEFAULT_ABORT_INCOMPLETE_UPLOAD_DAYS, 1, 3650
        ),
        object_expiration_days=(
            None if expiration in (None, "") else _integer(expiration, "objectExpirationDays", 1, 36500)
        ),
        noncurrent_version_days=_optional_integer(
            get, "noncurrentVersionDays", DEFAULT_NONCURRENT_VERSION_DAYS, 1, 36500
        ),
        access_log_days=_optional_integer(get, "accessLogDays", DEFAULT_ACCESS_LOG_DAYS, 1, 36500),
        rate_limit_per_token=rate_limit,
    )


def parse_whitelist(value: Any) -> tuple[str, ...] | None:
    """Return the allowed networks as normalised CIDRs, or ``None`` when no list is given.

    Accepts one CIDR or address (``203.0.113.7/32``), a comma list, a JSON list in a string
    (``'["203.0.113.0/24", "2001:db8::/32"]'``) or a list (from ``cdk.json``). A bare address
    means that address alone. Raises ``ConfigError`` naming the first entry that is not a network.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"context 'whitelistip' is not a valid JSON list: {exc}") from None
        else:
            value = text.split(",")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(
            f"context 'whitelistip' must be a CIDR, a comma list or a list of CIDRs, got {value!r}"
        )
    entries = [item.strip() for item in value]
    if not entries or not all(entries):
        raise ConfigError(
            "context 'whitelistip' has an empty entry; an empty list would deny every caller "
            "(leave whitelistip out to allow every address)"
        )
    return tuple(_network(entry) for entry in entries)


def _network(entry: str) -> str:
    try:
        return str(ipaddress.ip_network(entry, strict=True))
    except ValueError as exc:
        raise ConfigError(f"context 'whitelistip': {entry!r} is not an IPv4/IPv6 network ({exc})") from None


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"context '{key}' is required (a string), got {value!r}")
    return value


def _integer(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"context '{key}' must be a whole number from {low} to {high}, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(
            f"context '{key}' must be a whole number from {low} to {high}, got {value!r}"
        ) from None
    if not low <= number <= high:
        raise ConfigError(f"context '{key}' must be from {low} to {high}, got {number}")
    return number


def _optional_integer(get: Callable[[str], Any], key: str, default: int, low: int, high: int) -> int:
    value = get(key)
    return default if value in (None, "") else _integer(value, key, low, high)


def _boolean(value: Any, key: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise ConfigError(f"context '{key}' must be true or false, got {value!r}")


_BOOLEANS: Mapping[str, bool] = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
}
