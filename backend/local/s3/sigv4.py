"""AWS Signature Version 4 checks, as S3 makes them: `Authorization` headers and presigned URLs.

`verify(request, secrets, now)` returns the payload hash the client declared (a hex SHA-256 to
check against the body, `UNSIGNED-PAYLOAD` or a `STREAMING-…` mode) or raises `S3Error` with
S3's code: `AccessDenied` (no or expired signature), `InvalidAccessKeyId`,
`SignatureDoesNotMatch`, `AuthorizationQueryParametersError`, `RequestTimeTooSkewed`.
The credential scope's region is not checked (clients sign for the region they were given).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from backend.local.s3.errors import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
MAX_EXPIRES = 7 * 24 * 3600
MAX_SKEW = 15 * 60
_AUTH = re.compile(r"^AWS4-HMAC-SHA256\s+(.*)$", re.DOTALL)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class SignedRequest:
    """What a signature covers: method, raw path, decoded query pairs, headers (lower-cased names)."""

    method: str
    raw_path: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, Sequence[str]]


def _aws_quote(text: str, *, safe: str) -> str:
    return quote(text, safe=safe + "-_.~")


def canonical_uri(raw_path: str) -> str:
    """S3's canonical URI: the path decoded once and encoded again the AWS way (not normalised)."""
    return _aws_quote(unquote(raw_path), safe="/") or "/"


def canonical_query(pairs: Sequence[tuple[str, str]]) -> str:
    encoded = sorted(
        (_aws_quote(k, safe=""), _aws_quote(v, safe="")) for k, v in pairs if k != "X-Amz-Signature"
    )
    return "&".join(f"{k}={v}" for k, v in encoded)


def _canonical_headers(request: SignedRequest, signed: Sequence[str]) -> str:
    lines = []
    for name in signed:
        values = request.headers.get(name)
        if values is None:
            raise S3Error("SignatureDoesNotMatch", f"the signed header {name!r} is missing from the request")
        lines.append(f"{name}:{','.join(_SPACES.sub(' ', v.strip()) for v in values)}\n")
    return "".join(lines)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@dataclass(frozen=True)
class _Claim:
    access_key: str
    date: str
    region: str
    service: str
    amz_date: str
    signed_headers: list[str]
    signature: str
    payload_hash: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def _parse_credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise S3Error(
            "AuthorizationHeaderMalformed",
            f"the credential {credential!r} is not KEY/date/region/service/aws4_request",
        )
    return parts[0], parts[1], parts[2], parts[3]


def _from_header(value: str, request: SignedRequest) -> _Claim:
    match = _AUTH.match(value.strip())
    if match is None:
        raise S3Error("InvalidArgument", "Unsupported Authorization Type", status=400)
    fields = {}
    for item in match.group(1).split(","):
        name, sep, field_value = item.strip().partition("=")
        if not sep:
            raise S3Error(
                "AuthorizationHeaderMalformed", f"the authorization header is malformed near {name!r}"
            )
        fields[name] = field_value
    try:
        key, date, region, service = _parse_credential(fields["Credential"])
        signed, signature = fields["SignedHeaders"].split(";"), fields["Signature"]
    except KeyError as missing:
        raise S3Error("AuthorizationHeaderMalformed", f"the authorization header lacks {missing}") from None
    amz_date = _one(request.headers, "x-amz-date") or ""
    payload = _one(request.headers, "x-amz-content-sha256")
    if payload is None:
        raise S3Error(
            "InvalidRequest", "Missing required header for this request: x-amz-content-sha256", status=400
        )
    return _Claim(key, date, region, service, amz_date, signed, signature, payload)


def _from_query(params: dict[str, str]) -> _Claim:
    needed = ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature")
    missing = [name for name in needed if name not in params]
    if params.get("X-Amz-Algorithm") != ALGORITHM or missing:
        raise S3Error(
            "AuthorizationQueryParametersError",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            status=400,
        )
    key, date, region, service = _parse_credential(params["X-Amz-Credential"])
    return _Claim(
        key, date, region, service, params["X-Amz-Date"], params["X-Amz-SignedHeaders"].split(";"),
        params["X-Amz-Signature"], UNSIGNED,
    )  # fmt: skip


def _one(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _parse_amz_date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise S3Error("AccessDenied", f"X-Amz-Date {text!r} is not a valid date (YYYYMMDDTHHMMSSZ)") from None


def is_signed(request: SignedRequest) -> bool:
    params = dict(request.query)
    return _one(request.headers, "authorization") is not None or "X-Amz-Signature" in params


def verify(request: SignedRequest, secrets: Mapping[str, str], now: datetime) -> str:
    """Check the request's signature; return the declared payload hash (see module doc)."""
    params = dict(request.query)
    header = _one(request.headers, "authorization")
    if header is not None:
        claim = _from_header(header, request)
    elif "X-Amz-Signature" in params or "X-Amz-Credential" in params:
        claim = _from_query(params)
    else:
        raise S3Error("AccessDenied", "Access Denied")
    secret = secrets.get(claim.access_key)
    if secret is None:
        raise S3Error(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    signed_at = _parse_amz_date(claim.amz_date)
    if header is None:
        expires = int(params["X-Amz-Expires"]) if params["X-Amz-Expires"].isdigit() else -1
        if not 1 <= expires <= MAX_EXPIRES:
            raise S3Error(
                "AuthorizationQueryParametersError",
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                status=400,
            )
        if (now - signed_at).total_seconds() > expires:
            raise S3Error("AccessDenied", "Request has expired")
    elif abs((now - signed_at).total_seconds()) > MAX_SKEW:
        raise S3Error(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
    canonical = "\n".join(
        (
            request.method,
            canonical_uri(request.raw_path),
            canonical_query(request.query),
            _canonical_headers(request, claim.signed_headers),
            ";".join(claim.signed_headers),
            claim.payload_hash,
        )
    )
    to_sign = "\n".join(
        (ALGORITHM, claim.amz_date, claim.scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    key = signing_key(secret, claim.date, claim.region, claim.service)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, claim.signature):
        raise S3Error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    return claim.payload_hash
