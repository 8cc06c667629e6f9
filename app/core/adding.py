"""A file the user adds, checked and turned into the journal's record of a new upload."""

from __future__ import annotations

import uuid

from app.core.api import normalize_api_url
from app.core.errors import InvalidRequestError
from app.core.fingerprint import identify
from app.core.journal import NewUpload
from app.core.keys import KeyTemplateError, check_key
from app.core.models import TransferSettings, UploadRequest
from app.core.planner import plan_parts

ADD_GROUP = 100  # files recorded per journal transaction when many are added at once


def new_upload(request: UploadRequest, settings: TransferSettings) -> NewUpload:
    """The record of a new upload for `request`, with a fresh idempotency key (in the journal before
    /initialize is ever called). Raises InvalidRequestError with a sentence for the user."""
    path = request.path.expanduser().absolute()
    try:
        check_key(request.key)
    except KeyTemplateError as error:
        raise InvalidRequestError(error.message) from error
    try:
        identity = identify(path)
    except FileNotFoundError:
        raise InvalidRequestError(f"{path} does not exist.") from None
    except IsADirectoryError:
        raise InvalidRequestError(f"{path} is not a regular file.") from None
    except PermissionError:
        raise InvalidRequestError(f"{path} cannot be read (permission denied).") from None
    except OSError as error:
        raise InvalidRequestError(f"{path} cannot be read ({error.strerror or error}).") from None
    part_size = request.part_size or settings.part_size
    plan = plan_parts(identity.size, part_size)
    return NewUpload(
        api_url=normalize_api_url(request.api_url),
        path=path,
        size=identity.size,
        mtime_ns=identity.mtime_ns,
        fingerprint=identity.fingerprint,
        key=request.key,
        metadata=dict(request.metadata),
        content_type=request.content_type,
        part_size=plan.part_size,  # re-planned for the API when it starts, unless it was chosen
        overwrite=request.overwrite,
        accelerate=request.accelerate or settings.accelerate,
        cdn_base_url=request.cdn_base_url,
        idempotency_key=uuid.uuid4().hex,
        part_size_fixed=bool(part_size),
    )
