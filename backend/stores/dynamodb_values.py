"""DynamoDB's typed attribute values (`{"S": ...}`, `{"N": ...}`), written and read for the stores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def string_value(value: str) -> dict[str, str]:
    return {"S": value}


def number_value(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def text_value(item: Mapping[str, Any], name: str, default: str = "") -> str:
    return str(item.get(name, {}).get("S", default))


def optional_text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return None if value is None else str(value)


def optional_int(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name, {}).get("N")
    return None if value is None else int(float(value))


def flag_value(item: Mapping[str, Any], name: str) -> bool:
    return bool(item.get(name, {}).get("BOOL", False))
