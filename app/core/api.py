"""The upload API's client: every route of shared/API.md, with answers turned into records and errors.

One `ApiClient` talks to one API. It learns with `probe()` whether the API has this project's
extensions (`/session` answers, with its capabilities) or is the existing deployment, whose `/session`
route does not exist. Every failure is raised as an `app.core.errors.UploadError` whose message a user
can act on; the batch routes return a `FileRefused` for each file the API refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests

from app.core.api_answers import (
    drop_none,
    file_error,
    optional_int,
    optional_str,
    optional_time,
    parse_answer,
    required_str,
)
from app.core.api_records import (
    ApiInfo,
    FileRefused,
    FileToFinish,
    FileToStart,
    FinalizedUpload,
    FinishedFile,
    InitializedUpload,
    PresignedUrl,
    RemotePart,
    RemoteUpload,
    StartedFile,
    UploadsPage,
)
from app.core.errors import (
    ApiUnreachableError,
    AuthError,
    InvalidRequestError,
    NotThisApiError,
    RouteMissingError,
    ServerError,
)

__all__ = ["ApiClient", "ApiInfo", "FinalizedUpload", "InitializedUpload", "PresignedUrl", "RemotePart"]

log = logging.getLogger(__name__)

TokenProvider = Callable[[], str | None]


class ApiClient:
    """A client for one upload API. Thread-safe: each call uses a pooled `requests.Session`."""

    def __init__(
        self,
        api_url: str,
        token: str | TokenProvider | None,
        *,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.api_url = normalize_api_url(api_url)
        self._token: TokenProvider = token if callable(token) else (lambda: token)
        self._timeout = timeout
        self._session = session or _new_session()

    def close(self) -> None:
        self._session.close()

    # --- routes -----------------------------------------------------------------------------------

    def probe(self) -> ApiInfo:
        """Tell this project's API from the existing deployment, then check the token where it can.

        The first request carries no token, so that no gateway wording can mislead: `/session` without
        an `Authorization` header answers 401 on this project's API (the route exists and wants a token)
        and 403 on the existing deployment (API Gateway has no such route). Only then is the token sent.
        A core-only API has no route that checks a token without starting an upload, so there only the
        address is checked: `/initialize` without a token must answer 401 (its authorizer).
        """
        try:
            self._post("session", {}, with_token=False)
        except AuthError:
            pass  # the route exists and asks for a token: this project's API
        except RouteMissingError:
            return self._probe_core_only()
        else:
            raise NotThisApiError("The API accepted a request without a token; is this the upload API?")
        body = self._post("session", {})
        return ApiInfo(
            api_url=self.api_url,
            extended=True,
            principal=optional_str(body.get("principal")),
            organization_id=optional_str(body.get("organizationId")),
            token_verified=True,
            capabilities=frozenset(str(c) for c in body.get("capabilities") or ()),
            parts_kept_days=optional_int(body.get("partsKeptDays")),
            limits=_int_fields(body.get("limits")),
        )

    def _probe_core_only(self) -> ApiInfo:
        """The API has no `/session`: check that `/initialize` is there and guarded by an authorizer."""
        try:
            self._post("initialize", {}, with_token=False)
        except AuthError:
            return ApiInfo(api_url=self.api_url, extended=False)
        except RouteMissingError:
            raise NotThisApiError(
                "Nothing at this address answers like the upload API. Check the API URL (it usually "
                "ends with the stage, such as /prod).",
                status=403,
            ) from None
        raise NotThisApiError("The API accepted a request without a token; is this the upload API?")

    def initialize(
        self,
        payload: Mapping[str, Any],
        *,
        content_type: str | None = None,
        file_size: int | None = None,
        overwrite: bool = False,
        extended: bool = True,
        client_token: str | None = None,
    ) -> InitializedUpload:
        """Start a multipart upload. `payload` is `{"plugin": ..., "pluginPayload": {...}}`.

        The extension fields (`contentType`, `fileSize`, `overwrite`, `clientToken`) go only to an
        `extended` API; the same `client_token` again answers the same upload there.
        """
        body: dict[str, Any] = dict(payload)
        if extended:
            body.update(
                drop_none({"contentType": content_type, "fileSize": file_size, "clientToken": client_token})
            )
            if overwrite:
                body["overwrite"] = True
        answer = self._post("initialize", body)
        return InitializedUpload(
            file_id=required_str(answer, "fileId"),
            file_key=required_str(answer, "fileKey"),
            max_parts=optional_int(answer.get("maxParts")),
            min_part_size=optional_int(answer.get("minPartSize")),
            parts_expire_at=optional_time(answer.get("partsExpireAt")),
        )

    def presign(
        self,
        file_id: str,
        file_key: str,
        *,
        part_numbers: Iterable[int] | None = None,
        count: int | None = None,
        accelerate: bool = False,
    ) -> dict[int, PresignedUrl]:
        """Presigned UploadPart URLs, by part number: either for `part_numbers` (extension) or 1..`count`."""
        body: dict[str, Any] = {"fileId": file_id, "fileKey": file_key}
        if part_numbers is not None:
            body["partNumbers"] = list(part_numbers)
        else:
            body["parts"] = count
        asked_at = time.time()
        answer = self._post("getPreSignedTAUrls" if accelerate else "getPreSignedUrls", body)
        return _part_urls(answer.get("parts"), asked_at, optional_int(answer.get("expiresIn")))

    def finalize(
        self,
        file_id: str,
        file_key: str,
        parts: Iterable[tuple[int, str]],
        *,
        cdn_base_url: str | None = None,
    ) -> FinalizedUpload:
        """Complete the upload. The link is the API's, else `cdn_base_url` + key, else None.

        On this project's API an object published at the key since the upload started (without
        `overwrite` at the start) is a ConflictError, and finalizing a finished upload again answers as
        the first time did.
        """
        body: dict[str, Any] = {
            "fileId": file_id,
            "fileKey": file_key,
            "parts": [{"PartNumber": number, "ETag": etag} for number, etag in parts],
        }
        answer = self._post("finalize", body)
        image_path = required_str(answer, "imagePath")
        url = optional_str(answer.get("url")) or cdn_url(cdn_base_url, image_path)
        return FinalizedUpload(
            image_path=image_path,
            url=url,
            size=optional_int(answer.get("size")),
            etag=optional_str(answer.get("etag")),
        )

    def list_parts(self, file_id: str, file_key: str) -> list[RemotePart]:
        """Every part S3 holds for this upload (extension route)."""
        answer = self._post("listParts", {"fileId": file_id, "fileKey": file_key})
        parts = []
        for item in answer.get("parts") or ():
            number, etag, size = item.get("PartNumber"), item.get("ETag"), item.get("Size")
            if not isinstance(number, int) or not isinstance(etag, str) or not isinstance(size, int):
                raise NotThisApiError("The API's list of uploaded parts is malformed.")
            parts.append(RemotePart(number, etag, size))
        return parts

    def abort(self, file_id: str, file_key: str) -> None:
        """Abort the multipart upload (or forget a single PUT); S3 deletes its parts (extension route)."""
        self._post("abortUpload", {"fileId": file_id, "fileKey": file_key})

    # --- the folder routes (extensions "batch", "listUploads") -------------------------------------

    def initialize_batch(self, files: Sequence[FileToStart]) -> list[StartedFile | FileRefused]:
        """Start 1–100 files in one call; one result per file, in order (a refused file does not stop
        the others). A single file gets one presigned PUT URL; a multipart one its first part URLs."""
        asked_at = time.time()
        answer = self._post("initializeBatch", {"files": [_start_entry(file) for file in files]})
        entries = _entries(answer, "files", "initializeBatch", len(files))
        results: list[StartedFile | FileRefused] = []
        for file, entry in zip(files, entries, strict=True):
            if "error" in entry:
                results.append(FileRefused(file.client_token, file_error("initializeBatch", entry)))
                continue
            expires_in = optional_int(entry.get("expiresIn"))
            put_url = optional_str(entry.get("putUrl"))
            headers = entry.get("headers") if isinstance(entry.get("headers"), dict) else {}
            results.append(
                StartedFile(
                    client_token=file.client_token,
                    file_id=required_str(entry, "fileId"),
                    file_key=required_str(entry, "fileKey"),
                    urls=_part_urls(entry.get("parts"), asked_at, expires_in),
                    put_url=PresignedUrl(1, put_url, asked_at, url_expiry(put_url, asked_at, expires_in))
                    if put_url
                    else None,
                    headers={str(k): str(v) for k, v in headers.items()},
                    parts_expire_at=optional_time(entry.get("partsExpireAt")),
                    state=optional_str(entry.get("state")) or "uploading",
                )
            )
        return results

    def finalize_batch(
        self, files: Sequence[FileToFinish], *, cdn_base_url: str | None = None
    ) -> list[FinishedFile | FileRefused]:
        """Finish 1–100 files in one call (the API checks each object's size first); one result per
        file, in order. Idempotent, as `/finalize` is."""
        body = {"files": [_finish_entry(file) for file in files]}
        entries = _entries(self._post("finalizeBatch", body), "files", "finalizeBatch", len(files))
        results: list[FinishedFile | FileRefused] = []
        for file, entry in zip(files, entries, strict=True):
            if "error" in entry:
                results.append(FileRefused(file.file_id, file_error("finalizeBatch", entry)))
                continue
            image_path = required_str(entry, "imagePath")
            results.append(
                FinishedFile(
                    file_id=file.file_id,
                    image_path=image_path,
                    url=optional_str(entry.get("url")) or cdn_url(cdn_base_url, image_path),
                    size=optional_int(entry.get("size")),
                    etag=optional_str(entry.get("etag")),
                )
            )
        return results

    def list_uploads(
        self, state: str = "uploading", *, limit: int = 1000, cursor: str | None = None
    ) -> UploadsPage:
        """One page of the caller's own uploads, newest first (`state`: uploading, finished, aborted
        or all); pass the page's `cursor` for the next one."""
        answer = self._post("listUploads", {"state": state, "limit": limit, "cursor": cursor})
        uploads = []
        for item in answer.get("uploads") or ():
            if not isinstance(item, dict):
                raise NotThisApiError("The API's list of uploads is malformed.")
            uploads.append(
                RemoteUpload(
                    file_id=required_str(item, "fileId"),
                    file_key=required_str(item, "fileKey"),
                    file_number=optional_str(str(item["fileNumber"])) if item.get("fileNumber") else None,
                    state=optional_str(item.get("state")) or "uploading",
                    created_at=optional_time(item.get("createdAt")),
                    updated_at=optional_time(item.get("updatedAt")),
                    file_size=optional_int(item.get("fileSize")),
                    content_type=optional_str(item.get("contentType")),
                    single=item.get("single") is True,
                    url=optional_str(item.get("url")),
                )
            )
        return UploadsPage(uploads, optional_str(answer.get("cursor")))

    # --- transport --------------------------------------------------------------------------------

    def _post(self, route: str, body: Mapping[str, Any], *, with_token: bool = True) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        token = self._token() if with_token else None
        if token:
            headers["Authorization"] = token
        url = f"{self.api_url}/{route}"
        try:
            response = self._session.post(url, json=body, headers=headers, timeout=self._timeout)
        except requests.exceptions.Timeout as error:
            raise ServerError(
                f"The upload API did not answer within {self._timeout:.0f} s ({route})."
            ) from error
        except requests.exceptions.RequestException as error:
            raise ApiUnreachableError(
                f"The upload API at {self.api_url} cannot be reached. Check the address and your network "
                f"connection. ({type(error).__name__})"
            ) from error
        log.debug("POST /%s -> %s", route, response.status_code)
        return parse_answer(route, response)


def _part_urls(items: Any, asked_at: float, expires_in: int | None) -> dict[int, PresignedUrl]:
    urls: dict[int, PresignedUrl] = {}
    for item in items or ():
        if not isinstance(item, dict):
            raise NotThisApiError("The API's list of part URLs is malformed.")
        number = optional_int(item.get("PartNumber"))
        url = item.get("signedUrl")
        if number is None or not isinstance(url, str):
            raise NotThisApiError("The API's list of part URLs is malformed.")
        urls[number] = PresignedUrl(number, url, asked_at, url_expiry(url, asked_at, expires_in))
    return urls


def _start_entry(file: FileToStart) -> dict[str, Any]:
    entry: dict[str, Any] = dict(file.payload)
    entry.update(
        drop_none(
            {"clientToken": file.client_token, "fileSize": file.file_size, "contentType": file.content_type}
        )
    )
    if file.overwrite:
        entry["overwrite"] = True
    if file.single:
        entry["single"] = True
    else:
        entry["parts"] = file.sign_parts
    return entry


def _finish_entry(file: FileToFinish) -> dict[str, Any]:
    entry: dict[str, Any] = {"fileId": file.file_id, "fileKey": file.file_key}
    if file.parts is not None:
        entry["parts"] = [{"PartNumber": number, "ETag": etag} for number, etag in file.parts]
    return entry


def _entries(answer: Mapping[str, Any], name: str, route: str, count: int) -> list[dict[str, Any]]:
    entries = answer.get(name)
    if (
        not isinstance(entries, list)
        or len(entries) != count
        or not all(isinstance(e, dict) for e in entries)
    ):
        raise NotThisApiError(f"The API's answer to /{route} does not list one result per file.")
    return entries


def _int_fields(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(name): number for name, item in value.items() if (number := optional_int(item)) is not None}


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)  # one per connection
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def normalize_api_url(api_url: str) -> str:
    """The API URL as the keyring account and the journal store it: trimmed, without trailing slash."""
    url = api_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequestError(
            f"“{api_url}” is not an API URL. It should look like https://abc123.execute-api.eu-west-1."
            "amazonaws.com/prod."
        )
    return url


def cdn_url(cdn_base_url: str | None, key: str) -> str | None:
    """The CDN link of a key: base URL + the key with each segment percent-encoded."""
    if not cdn_base_url:
        return None
    return f"{cdn_base_url.rstrip('/')}/{quote(key, safe='/')}"


def url_expiry(url: str, asked_at: float, expires_in: int | None) -> float:
    """When a presigned URL stops working, from the API's `expiresIn` or the URL's own SigV4 fields."""
    if expires_in is not None:
        return asked_at + expires_in
    query = parse_qs(urlsplit(url).query)
    signed_expires = query.get("X-Amz-Expires")
    if signed_expires and signed_expires[0].isdigit():
        return asked_at + int(signed_expires[0])
    legacy_expires = query.get("Expires")  # SigV2: an absolute epoch time
    if legacy_expires and legacy_expires[0].isdigit():
        return float(legacy_expires[0])
    return asked_at + 300  # the existing deployment's default
