"""The upload API's client: every route of shared/API.md, with answers turned into records and errors.

One `ApiClient` talks to one API. It learns with `probe()` whether the API has this project's
extensions (`/session` answers) or is the existing deployment, whose `/session` route does not exist.
Every failure is raised as an `app.core.errors.UploadError` whose message a user can act on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests

from app.core.errors import (
    AccessDeniedError,
    ApiUnreachableError,
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotThisApiError,
    RouteMissingError,
    ServerError,
    UploadError,
    UploadGoneError,
)

log = logging.getLogger(__name__)

TokenProvider = Callable[[], str | None]
_MISSING_AUTH_TOKEN = "Missing Authentication Token"
# The routes the existing deployment has; every other route is one of this project's extensions.
CORE_ROUTES = frozenset({"initialize", "getPreSignedUrls", "getPreSignedTAUrls", "finalize"})


@dataclass(frozen=True)
class ApiInfo:
    """What `probe()` learned about an API."""

    api_url: str
    extended: bool  # False: the existing deployment, core routes only
    principal: str | None = None
    organization_id: str | None = None
    token_verified: bool = False  # core-only APIs cannot check a token without starting an upload
    capabilities: frozenset[str] = frozenset()


@dataclass(frozen=True)
class InitializedUpload:
    file_id: str  # the S3 UploadId
    file_key: str
    max_parts: int | None = None
    min_part_size: int | None = None


@dataclass(frozen=True)
class PresignedUrl:
    part_number: int
    url: str
    issued_at: float  # time.time() when it was asked for
    expires_at: float  # time.time() after which S3 refuses it

    def usable(self, now: float, send_seconds: float = 0.0) -> bool:
        """True while the URL has more than a quarter of its life (at most a minute) left beyond the
        `send_seconds` a part is expected to take (some servers check expiry when the body has arrived)."""
        margin = min(60.0, (self.expires_at - self.issued_at) * 0.25)
        return self.expires_at - now > margin + send_seconds


@dataclass(frozen=True)
class RemotePart:
    number: int
    etag: str
    size: int


@dataclass(frozen=True)
class FinalizedUpload:
    image_path: str
    url: str | None  # None when neither the API nor a configured CDN base URL gives one
    size: int | None


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
            principal=_optional_str(body.get("principal")),
            organization_id=_optional_str(body.get("organizationId")),
            token_verified=True,
            capabilities=frozenset(str(c) for c in body.get("capabilities") or ()),
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
    ) -> InitializedUpload:
        """Start a multipart upload. `payload` is `{"plugin": ..., "pluginPayload": {...}}`."""
        body: dict[str, Any] = dict(payload)
        if extended:
            body.update(_drop_none({"contentType": content_type, "fileSize": file_size}))
            if overwrite:
                body["overwrite"] = True
        answer = self._post("initialize", body)
        return InitializedUpload(
            file_id=_required_str(answer, "fileId"),
            file_key=_required_str(answer, "fileKey"),
            max_parts=_optional_int(answer.get("maxParts")),
            min_part_size=_optional_int(answer.get("minPartSize")),
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
        expires_in = _optional_int(answer.get("expiresIn"))
        urls: dict[int, PresignedUrl] = {}
        for item in answer.get("parts") or ():
            if not isinstance(item, dict):
                raise NotThisApiError("The API's list of part URLs is malformed.")
            number = _optional_int(item.get("PartNumber"))
            url = item.get("signedUrl")
            if number is None or not isinstance(url, str):
                raise NotThisApiError("The API's list of part URLs is malformed.")
            urls[number] = PresignedUrl(number, url, asked_at, url_expiry(url, asked_at, expires_in))
        return urls

    def finalize(
        self,
        file_id: str,
        file_key: str,
        parts: Iterable[tuple[int, str]],
        *,
        cdn_base_url: str | None = None,
    ) -> FinalizedUpload:
        """Complete the upload. The link is the API's, else `cdn_base_url` + key, else None."""
        body = {
            "fileId": file_id,
            "fileKey": file_key,
            "parts": [{"PartNumber": number, "ETag": etag} for number, etag in parts],
        }
        answer = self._post("finalize", body)
        image_path = _required_str(answer, "imagePath")
        url = _optional_str(answer.get("url")) or cdn_url(cdn_base_url, image_path)
        return FinalizedUpload(image_path=image_path, url=url, size=_optional_int(answer.get("size")))

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
        """Abort the multipart upload; S3 deletes its parts (extension route)."""
        self._post("abortUpload", {"fileId": file_id, "fileKey": file_key})

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
        return _parse_answer(route, response)


def _parse_answer(route: str, response: requests.Response) -> dict[str, Any]:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if 200 <= status < 300:
        if not isinstance(body, dict):
            raise NotThisApiError(
                f"The server at this address answered /{route} with something other than the upload API's "
                "JSON. Check the API URL (it usually ends with the stage, such as /prod)."
            )
        return body
    server_text = _server_message(body)
    if _route_missing(route, status, body, response):
        error: UploadError = RouteMissingError(
            f"The API has no /{route} route. Check the API URL (it usually ends with the stage, "
            "such as /prod).",
            status=status,
        )
    elif not isinstance(body, dict) and status in (400, 403, 404, 405):
        error = NotThisApiError(
            f"The server at this address answered /{route} with HTTP {status} and no API answer; it is not "
            "the upload API. Check the API URL (it usually ends with the stage, such as /prod).",
            status=status,
        )
    else:
        error = _error_for(route, status, server_text, body, response)
    error.server_message = server_text
    raise error


def _server_message(body: Any) -> str:
    """The API's or the gateway's own words: `message`, or `Message` in API Gateway's deny answer."""
    if not isinstance(body, dict):
        return ""
    message = body.get("message", body.get("Message"))
    return message if isinstance(message, str) else ""


def _is_project_error(body: Any) -> bool:
    """This project's error shape `{"message", "statusCode", "type"}` (also our gateway's answers)."""
    return isinstance(body, dict) and {"message", "statusCode", "type"} <= body.keys()


def _route_missing(route: str, status: int, body: Any, response: requests.Response) -> bool:
    """API Gateway's answer for a route it does not have.

    Without an `Authorization` header it is `403 Missing Authentication Token`; with one that is not an
    AWS signature (a plain token never is) it is `403 IncompleteSignatureException`. Neither is a refused
    token. On a route the existing deployment lacks, any 403 that is not this project's error shape is
    read the same way, whatever the gateway's wording.
    """
    if status != 403 or _is_project_error(body):
        return False
    if route not in CORE_ROUTES:
        return True
    error_type = response.headers.get("x-amzn-ErrorType", "")
    text = _server_message(body)
    return (
        error_type.startswith(("MissingAuthenticationToken", "IncompleteSignature"))
        or text.startswith(_MISSING_AUTH_TOKEN)
        or text.startswith("Invalid key=value pair")
    )


def _error_for(
    route: str, status: int, server_text: str, body: Any, response: requests.Response
) -> UploadError:
    detail = f" The server said: {server_text}" if server_text else ""
    authorizer_failed = response.headers.get("x-amzn-ErrorType", "").startswith("AuthorizerConfiguration")
    if status == 401 or (status == 500 and authorizer_failed):
        return AuthError(
            "The upload API rejected the token. Sign in again with a valid token.", status=status
        )
    if status == 403 and not _is_project_error(body) and "explicit deny" in server_text:
        return AccessDeniedError(
            "The upload API's access policy refused this request: the token is not allowed there, or this "
            "computer's network address is not on the API's allow list. Ask the API's administrator.",
            status=status,
        )
    if status == 403:
        return AccessDeniedError(
            f"The upload API refused this request for your token.{detail}", status=status
        )
    if status == 404:
        if route in ("initialize", "session"):
            return NotThisApiError(
                f"Nothing answers /{route} at this address. Check the API URL.", status=status
            )
        return UploadGoneError(f"The server no longer knows this upload.{detail}", status=status)
    if status == 409:
        return ConflictError(
            f"A file already exists at this key. Choose another key or allow overwriting.{detail}",
            status=status,
        )
    if status == 413:
        return InvalidRequestError(
            "The request is too large for the API; shorten the metadata.", status=status
        )
    if status == 429 or status >= 500:
        return ServerError(f"The upload API failed (HTTP {status}).{detail}", status=status)
    return InvalidRequestError(f"The upload API refused the request (HTTP {status}).{detail}", status=status)


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
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


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _required_str(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise NotThisApiError(f"The API's answer has no “{name}”; is this the upload API?")
    return value


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _optional_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
