"""Adding one file in a test, light enough for any test module to import (no local stack)."""

from __future__ import annotations

from app.core.manager import UploadManager
from app.core.models import UploadRequest, UploadStatus


def add_one(manager: UploadManager, one: UploadRequest) -> UploadStatus:
    """Add one file as the CLI and the app add files (`add_many`); its refusal is raised."""
    result = manager.add_many([one])
    if result.refused:
        raise result.refused[0][1]
    return result.added[0]
