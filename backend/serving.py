"""How finished objects are served: what the CDN adds to every answer, and which types download.

Types a browser would run (HTML, SVG and other XML, JavaScript) are stored with
`Content-Disposition: attachment`, set when the upload starts (S3 keeps it with the object), so
that an upload cannot become a live page on the organisation's CDN domain. Every CDN answer also
carries `CDN_RESPONSE_HEADERS` (the distribution's response-headers policy in infra/, and the
local stack's CDN stand-in), so that no browser guesses a type the object does not declare.
"""

from __future__ import annotations

CDN_RESPONSE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
ATTACHMENT = "attachment"
# Media types a browser renders as a document that can run script.
_ACTIVE_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/xsl",
    "application/xslt+xml",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "text/ecmascript",
    "application/ecmascript",
    "text/jscript",
    "text/vbscript",
    "application/x-shockwave-flash",
    "text/cache-manifest",
    "multipart/x-mixed-replace",
}


def media_type(content_type: str) -> str:
    """The lower-case `type/subtype` of a Content-Type, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def runs_in_browser(content_type: str) -> bool:
    """Whether a browser that opens this type may render it as a page or run it as script."""
    essence = media_type(content_type)
    return (
        essence in _ACTIVE_TYPES
        or essence.endswith("+xml")
        or "javascript" in essence
        or "ecmascript" in essence
        or "html" in essence
    )


def content_disposition(content_type: str) -> str | None:
    """The Content-Disposition an object of this type is stored with (None: the browser decides)."""
    return ATTACHMENT if runs_in_browser(content_type) else None
