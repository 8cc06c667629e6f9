"""Which of a batch's keys are taken already: uploaded recently to the same API (the journal's history),
or answering at the CDN (a few HEAD requests, run off the GUI thread, each bounded by a time-out)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import requests

from app.core.models import UploadState, UploadStatus

log = logging.getLogger(__name__)

HEAD_LIMIT = 40  # keys checked at the CDN per batch: enough to warn, few enough to stay quick
HEAD_TIMEOUT = 4.0
HEAD_CONNECTIONS = 8


def recently_uploaded(history: Iterable[UploadStatus], api_url: str) -> dict[str, float]:
    """Key → when it finished, for the uploads to `api_url` that the journal lists as done."""
    found: dict[str, float] = {}
    for status in history:
        if status.state is UploadState.DONE and status.api_url == api_url:
            found.setdefault(status.key, status.finished_at or status.created_at)
    return found


def cdn_base(configured: str, history: Iterable[UploadStatus], api_url: str) -> str:
    """The base URL links are made of: the configured one, else read off a finished upload's link."""
    if configured:
        return configured.rstrip("/")
    for status in history:
        if status.api_url == api_url and status.url:
            suffix = "/" + quote(status.key)
            if status.url.endswith(suffix):
                return status.url[: -len(suffix)]
    return ""


def link_for(base: str, key: str) -> str:
    return f"{base}/{quote(key)}"


def existing_keys(base: str, keys: list[str]) -> set[str]:
    """Of the first `HEAD_LIMIT` keys, those whose link answers 200 (blocking: call off the GUI thread).
    A key that cannot be checked (time-out, refused connection, 403) counts as free."""
    if not base:
        return set()

    def exists(key: str) -> bool:
        try:
            answer = requests.head(link_for(base, key), timeout=HEAD_TIMEOUT, allow_redirects=True)
        except requests.RequestException as error:
            log.info("Could not check whether %s exists: %s", key, error)
            return False
        return answer.status_code == 200

    wanted = keys[:HEAD_LIMIT]
    with ThreadPoolExecutor(max_workers=HEAD_CONNECTIONS, thread_name_prefix="s3up-key-check") as pool:
        return {key for key, found in zip(wanted, pool.map(exists, wanted), strict=True) if found}
