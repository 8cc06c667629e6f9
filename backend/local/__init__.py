"""The local stack: the upload API on this machine (moto, a gateway stand-in, a CDN stand-in)."""

from __future__ import annotations

from backend.local.stack import LocalStack

__all__ = ["LocalStack"]
