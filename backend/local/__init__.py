"""The local stack: the upload API on this machine (a gateway, S3 and CDN stand-ins, SQLite tables)."""

from __future__ import annotations

from typing import Any

__all__ = ["LocalStack"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `backend.local.command` (and `python -m backend tokens`) stay light.
    if name == "LocalStack":
        from backend.local.stack import LocalStack

        return LocalStack
    raise AttributeError(name)
