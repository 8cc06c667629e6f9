"""HTTP connections to S3 that go through the same proxy as the API calls.

The API calls go through `requests`, which follows HTTP_PROXY / HTTPS_PROXY / NO_PROXY (and the system
settings on macOS and Windows). Part uploads use `http.client` directly, so they ask the same question
here: an https:// URL is tunnelled with CONNECT, an http:// one is sent to the proxy with the whole URL
on the request line. Only http:// proxies are supported, as by `http.client`.
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
    if proxy.scheme != "http" or not proxy.hostname:
        raise UploadError(
            f"The proxy {proxy.scheme}://{proxy.hostname}:{proxy.port or ''} cannot carry the upload: "
            "only http:// proxies are supported. Set HTTPS_PROXY and HTTP_PROXY to an http:// address, "
            "or add the S3 host to NO_PROXY."
        )
    authorization = None
    if proxy.username is not None:
        credentials = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
    return Proxy(proxy.hostname, proxy.port or 80, authorization)


def open_route(
    scheme: str, host: str, port: int | None, *, timeout: float, ssl_context: ssl.SSLContext | None
) -> Route:
    """A new connection to `scheme://host:port`, through the proxy that applies to it, if any."""
    netloc = f"[{host}]" if ":" in host else host
    proxy = proxy_for(f"{scheme}://{netloc}{f':{port}' if port else ''}/")
    if scheme == "https":
        if proxy is None:
            return Route(http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl_context))
        tunnelled = http.client.HTTPSConnection(proxy.host, proxy.port, timeout=timeout, context=ssl_context)
        tunnelled.set_tunnel(host, port, headers=proxy.headers())
        return Route(tunnelled)
    if proxy is None:
        return Route(http.client.HTTPConnection(host, port, timeout=timeout))
    return Route(
        http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout),
        absolute_form=True,
        headers=proxy.headers(),
    )
