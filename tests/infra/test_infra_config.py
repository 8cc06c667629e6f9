"""Context parsing: every form of every value, and the errors for wrong ones (no synthesis)."""

from __future__ import annotations

from typing import Any

import pytest
from s3up_infra.config import ConfigError, StackConfig, parse_config, parse_whitelist

DEFAULTS: dict[str, Any] = {
    "env": "dev",
    "urlExpiry": 300,
    "functionTimeout": 29,
    "transferAcceleration": False,
}


def config(**overrides: Any) -> StackConfig:
    values = {**DEFAULTS, **overrides}
    return parse_config(values.get)


def test_defaults_give_no_allow_list_and_no_expiration() -> None:
    parsed = config()
    assert parsed == StackConfig(
        env="dev",
        url_expiry=300,
        function_timeout=29,
        whitelist=None,
        transfer_acceleration=False,
        abort_incomplete_upload_days=7,
        object_expiration_days=None,
        noncurrent_version_days=30,
        access_log_days=90,
        rate_limit_per_token=3000,
    )
    assert parsed.bucket_name == "document-client-upload-dev"
    assert (parsed.files_table_name, parsed.tokens_table_name) == ("Files-dev", "UploadTokens-dev")


def test_command_line_strings_are_converted() -> None:
    parsed = config(
        urlExpiry="3600",
        functionTimeout="60",
        transferAcceleration="true",
        objectExpirationDays="30",
        abortIncompleteUploadDays="2",
        noncurrentVersionDays="10",
        accessLogDays="365",
        rateLimitPerToken="0",
    )
    assert (parsed.url_expiry, parsed.function_timeout) == (3600, 60)
    assert parsed.transfer_acceleration is True
    assert (parsed.object_expiration_days, parsed.abort_incomplete_upload_days) == (30, 2)
    assert (parsed.noncurrent_version_days, parsed.access_log_days, parsed.rate_limit_per_token) == (
        10,
        365,
        0,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.7/32", ("203.0.113.7/32",)),
        ("203.0.113.7", ("203.0.113.7/32",)),
        ("203.0.113.7/32, 198.51.100.0/24", ("203.0.113.7/32", "198.51.100.0/24")),
        ('["203.0.113.7/32", "2001:db8::/32"]', ("203.0.113.7/32", "2001:db8::/32")),
        (["198.51.100.0/24"], ("198.51.100.0/24",)),
        ("", None),
        (None, None),
    ],
)
def test_whitelist_forms(value: Any, expected: tuple[str, ...] | None) -> None:
    assert parse_whitelist(value) == expected
    assert config(whitelistip=value).whitelist == expected


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("203.0.113.300/32", "203.0.113.300/32"),
        ("203.0.113.7/24", "203.0.113.7/24"),  # host bits set: the operator meant something else
        ("203.0.113.7/32,nonsense", "nonsense"),
        ('["198.51.100.0/24", "10.0.0.0/33"]', "10.0.0.0/33"),
        ("203.0.113.7/32,", "empty entry"),
        ("[]", "empty entry"),
        ('["203.0.113.7/32"', "JSON"),
        ("[1, 2]", "list of CIDRs"),
    ],
)
def test_bad_whitelist_is_refused_naming_the_entry(value: str, named: str) -> None:
    with pytest.raises(ConfigError, match="whitelistip") as caught:
        config(whitelistip=value)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("env", ""),
        ("env", "Prod"),
        ("env", "a" * 41),
        ("env", "dev."),
        ("urlExpiry", "0"),
        ("urlExpiry", 604801),
        ("urlExpiry", "5m"),
        ("urlExpiry", True),
        ("functionTimeout", "901"),
        ("transferAcceleration", "maybe"),
        ("objectExpirationDays", "0"),
        ("abortIncompleteUploadDays", "0"),
        ("noncurrentVersionDays", "0"),
        ("accessLogDays", "x"),
        ("rateLimitPerToken", "5"),
        ("rateLimitPerToken", "-1"),
    ],
)
def test_wrong_values_are_refused_naming_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        config(**{key: value})
