"""HTTP connections to S3 that go through the same proxy as the API calls.

The API calls go through `requests`, which follows HTTP_PROXY / HTTPS_PROXY / NO_PROXY (and the system
settings on macOS and Windows). Part uploads use `http.client` directly, so they ask the same question
here: an https:// URL is tunnelled with CONNECT, an http:// one is sent to the proxy with the whole URL
on the request line. Only http:// proxies with Basic authentication are supported, as by `http.client`
(whose CONNECT line cannot name an IPv6 address before Python 3.12).
"""

from __future__ import annotations

import base64
import http.client
import ssl
from dataclasses import dataclass, field
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from requests.utils import get_environ_proxies, select_proxy

from app.core.errors import UploadError


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    authorization: str | None = None  # "Basic ..." when the proxy URL carries a user name

    def headers(self) -> dict[str, str]:
        return {"Proxy-Authorization": self.authorization} if self.authorization else {}


@dataclass
class Route:
    """A keep-alive connection to one S3 endpoint, direct or through a proxy."""

    connection: http.client.HTTPConnection
    absolute_form: bool = False  # http:// through a proxy: the request line names the whole URL
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request
    proxy_credentials: bool = False  # a user name and password were given to the proxy

    def request_target(self, url: SplitResult) -> str:
        if self.absolute_form:
            return urlunsplit((url.scheme, url.netloc, url.path, url.query, ""))
        return url.path + (f"?{url.query}" if url.query else "")


def proxy_for(url: str) -> Proxy | None:
    """The proxy `url` should go through, as `requests` would choose it; None to connect directly."""
    chosen = select_proxy(url, get_environ_proxies(url))
    if not chosen:
        return None
    proxy = urlsplit(chosen if "://" in chosen else f"http://{chosen}")
    where = f"{proxy.scheme}://{proxy.hostname}"
    if proxy.scheme != "http" or not proxy.hostname:
        raise UploadError(
            f"The proxy {where} cannot carry the upload: only http:// proxies are supported. Set "
            "HTTPS_PROXY and HTTP_PROXY to an http:// address, or add the S3 host to NO_PROXY."
        )
    try:
        port = proxy.port or 80
    except ValueError:
        raise UploadError(
            f"The proxy address for {where} in HTTPS_PROXY / HTTP_PROXY has a port that is not a number."
        ) from None
    authorization = None
    if proxy.username is not None:
        credentials = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
        authorization = "Basic " + base64.b64encode(_credential_bytes(credentials)).decode("ascii")
    return Proxy(proxy.hostname, port, authorization)


def _credential_bytes(credentials: str) -> bytes:
    """Latin-1 as `requests` sends them (so that API calls and uploads agree), else UTF-8."""
    try:
        return credentials.encode("latin-1")
    except UnicodeEncodeError:
        return credentials.encode("utf-8")


def open_route(
    scheme: str, host: str, port: int | None, *, timeout: float, ssl_context: ssl.SSLContext | None
) -> Route:
    """A new connection to `scheme://host:port`, through the proxy that applies to it, if any."""
    # An explicit port: without one, http.client reads the end of an IPv6 address as the port.
    port = port or (443 if scheme == "https" else 80)
    netloc = f"[{host}]" if ":" in host else host
    proxy = proxy_for(f"{scheme}://{netloc}:{port}/")
    if scheme == "https":
        if proxy is None:
            return Route(http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl_context))
        tunnelled = http.client.HTTPSConnection(proxy.host, proxy.port, timeout=timeout, context=ssl_context)
        tunnelled.set_tunnel(host, port, headers=proxy.headers())
        return Route(tunnelled, proxy_credentials=proxy.authorization is not None)
    if proxy is None:
        return Route(http.client.HTTPConnection(host, port, timeout=timeout))
    return Route(
        http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout),
        absolute_form=True,
        headers=proxy.headers(),
        proxy_credentials=proxy.authorization is not None,
    )
