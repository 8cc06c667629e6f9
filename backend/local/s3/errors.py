"""S3's error answers: a code, a message, an HTTP status and the XML body S3 sends."""

from __future__ import annotations

from xml.sax.saxutils import escape

# The status S3 answers for each error code this server raises (403 unless listed).
_STATUS = {
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "InvalidBucketName": 400,
    "InvalidArgument": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "EntityTooSmall": 400,
    "EntityTooLarge": 400,
    "MalformedXML": 400,
    "BadDigest": 400,
    "InvalidDigest": 400,
    "XAmzContentSHA256Mismatch": 400,
    "IncompleteBody": 400,
    "InvalidRequest": 400,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "InvalidRange": 416,
    "PreconditionFailed": 412,
    "MethodNotAllowed": 405,
    "NotImplemented": 501,
    "InternalError": 500,
}


class S3Error(Exception):
    """An S3 error answer."""

    def __init__(self, code: str, message: str, *, status: int | None = None, resource: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else _STATUS.get(code, 403)
        self.resource = resource

    def xml(self, request_id: str) -> bytes:
        resource = f"<Resource>{escape(self.resource)}</Resource>" if self.resource else ""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}</Message>{resource}"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
