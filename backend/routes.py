"""Every route of the API and the handler module that serves it (docs/ARCHITECTURE.md).

infra/ deploys one Lambda function per module (a test checks it matches), and the local gateway
serves `routes()`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from backend.runtime import Route

CORE_ROUTES: Mapping[str, str] = {
    "/initialize": "initialize",
    "/getPreSignedUrls": "presign",
    "/getPreSignedTAUrls": "presign_accelerated",
    "/finalize": "finalize",
}
"""The existing deployment's routes."""
EXTENSION_ROUTES: Mapping[str, str] = {
    "/listParts": "list_parts",
    "/abortUpload": "abort_upload",
    "/session": "session",
    "/initializeBatch": "initialize_batch",
    "/finalizeBatch": "finalize_batch",
    "/listUploads": "list_uploads",
}
ROUTE_MODULES: Mapping[str, str] = {**CORE_ROUTES, **EXTENSION_ROUTES}


def routes() -> dict[str, Route]:
    """Route path → its handler's `handle(request, services)`."""
    return {
        path: importlib.import_module(f"backend.handlers.{module}").handle
        for path, module in ROUTE_MODULES.items()
    }
