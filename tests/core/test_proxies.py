"""Part uploads go through the same HTTP(S)_PROXY as the API calls: forwarded, tunnelled, authenticated."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.auth import _basic_auth_str

from app.core.errors import UploadError
from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, UploadState
from app.core.proxies import Proxy, open_route, proxy_for
from app.core.transfer import ConnectionCache, PartStopper, SentPart, _proxy_refused, send_part
from backend.local import LocalStack
from tests.background_server import BackgroundServer
from tests.core.adding import add_one
from tests.core.conftest import fetch, request, wait_for
from tests.forward_proxy import ForwardProxy

MakeManager = Callable[..., UploadManager]
MakeFile = Callable[[str, int], Path]
LOOPBACK = ipaddress.ip_address("127.0.0.1")
STOPPED = {UploadState.DONE, UploadState.FAILED, UploadState.CANCELLED}


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set the proxy variables alone (whatever this machine's environment has)."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)

    def use(proxy: str | None = None, no_proxy: str | None = None) -> None:
        if proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy)
            monkeypatch.setenv("HTTPS_PROXY", proxy)
        if no_proxy:
            monkeypatch.setenv("NO_PROXY", no_proxy)

    return use


def test_the_proxy_is_chosen_as_for_the_api_calls(proxy_env: Callable[..., None]) -> None:
    proxy_env()
    assert proxy_for("https://bucket.s3.amazonaws.com/key") is None
    proxy_env("http://alice:p%40ss@proxy.example:3128", no_proxy="internal.example")
    assert proxy_for("https://bucket.s3.amazonaws.com/key") == Proxy(
        "proxy.example",
        3128,
        "Basic YWxpY2U6cEBzcw==",  # alice:p@ss
    )
    assert proxy_for("http://s3.internal.example/key") is None
    proxy_env("proxy.example:8080")  # no scheme: http:// is meant
    assert proxy_for("https://s3.example/key") == Proxy("proxy.example", 8080)


def test_a_proxy_that_cannot_carry_uploads_is_refused_with_a_sentence(proxy_env: Callable[..., None]) -> None:
    proxy_env("socks5://proxy.example:1080")
    with pytest.raises(UploadError, match="only http:// proxies are supported"):
        proxy_for("https://s3.example/key")


def test_uploads_go_through_an_authenticating_proxy(
    stack: LocalStack,
    journal: Journal,
    make_manager: MakeManager,
    make_file: MakeFile,
    proxy_env: Callable[..., None],
) -> None:
    path = make_file("proxied.bin", 12 * MIB)
    with ForwardProxy(credentials=("alice", "s3cret")) as proxy:
        proxy_env(proxy.url.replace("http://", "http://alice:s3cret@"))
        manager = make_manager(journal, stack.token)
        upload_ref = add_one(manager, request(path, stack.api_url, "proxy/proxied.bin")).id
        status = wait_for(manager, upload_ref, STOPPED)
        assert status.state is UploadState.DONE, status.message
        assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]
    puts = [p for p in proxy.passed if p.method == "PUT"]
    assert len(puts) == 3  # 5 + 5 + 2 MiB
    assert sum(p.length for p in puts) == 12 * MIB
    assert any("/initialize" in p.target for p in proxy.passed)  # the API calls too
    assert proxy.refused == 0


@pytest.mark.parametrize(
    ("given", "sentence"),
    [
        ("alice:wrong@", "refused the user name and password"),
        ("", "asks for a user name and password"),
    ],
)
def test_a_proxy_that_refuses_fails_the_part_with_a_sentence(
    proxy_env: Callable[..., None], tmp_path: Path, given: str, sentence: str
) -> None:
    path = tmp_path / "part.bin"
    path.write_bytes(b"x" * 1000)
    with ForwardProxy(credentials=("alice", "s3cret")) as proxy, TlsServer() as server:
        for target in (server.plain_url, server.tls_url):  # forwarded, then tunnelled
            proxy_env(proxy.url.replace("http://", f"http://{given}"))
            connections = ConnectionCache(timeout=10, ssl_context=server.client_context)
            with pytest.raises(UploadError, match=sentence) as raised:
                put(target, path, connections)
            assert raised.value.status == 407
            assert not raised.value.transient
            connections.close()
        assert proxy.refused == 2
        assert server.received == []


def test_other_refusals_of_a_tunnel_are_retried_and_name_the_proxy() -> None:
    error = _proxy_refused("502 Bad Gateway", credentials_given=False)
    assert error.transient
    assert "The proxy could not connect to S3 (502 Bad Gateway)" in error.message


def test_credentials_are_encoded_as_for_the_api_calls(proxy_env: Callable[..., None]) -> None:
    proxy_env("http://j%C3%BCrgen:p%C3%A4ss%3Aw@proxy.example:3128")  # jürgen / päss:w
    chosen = proxy_for("https://s3.example/key")
    assert chosen is not None
    assert chosen.authorization == _basic_auth_str("jürgen", "päss:w")


def test_a_bad_proxy_port_is_a_sentence(proxy_env: Callable[..., None]) -> None:
    proxy_env("http://proxy.example:80a")
    with pytest.raises(UploadError, match="port that is not a number"):
        proxy_for("https://s3.example/key")


def test_an_ipv6_endpoint_keeps_its_address_and_gets_the_default_port(proxy_env: Callable[..., None]) -> None:
    proxy_env()
    route = open_route("http", "2001:db8::1", None, timeout=5, ssl_context=None)
    assert (route.connection.host, route.connection.port) == ("2001:db8::1", 80)
    assert route.request_target(urlsplit("http://[2001:db8::1]/b/k?x=1")) == "/b/k?x=1"


def test_https_parts_are_tunnelled_with_connect(proxy_env: Callable[..., None], tmp_path: Path) -> None:
    body = os.urandom(3 * MIB + 17)
    path = tmp_path / "part.bin"
    path.write_bytes(body)
    with ForwardProxy() as proxy, TlsServer() as server:
        proxy_env(proxy.url)
        connections = ConnectionCache(timeout=10, ssl_context=server.client_context)
        for _ in range(2):  # the second PUT reuses the tunnel
            sent = put(server.tls_url, path, connections)
            assert sent.etag == f'"{hashlib.md5(body).hexdigest()}"'
        connections.close()
    assert [p.method for p in proxy.passed] == ["CONNECT"]
    assert proxy.passed[0].target == f"127.0.0.1:{server.port}"
    assert server.received == [body, body]


def put(url: str, path: Path, connections: ConnectionCache) -> SentPart:
    """Send the whole file as one part."""
    with path.open("rb") as file:
        return send_part(
            url,
            expires_at=float("inf"),
            file=file,
            offset=0,
            length=path.stat().st_size,
            connections=connections,
            stopper=PartStopper(),
            on_progress=lambda _n: None,
        )


class TlsServer:
    """A tiny S3 stand-in that answers a PUT with its MD5 as ETag, over TLS and over plain HTTP.

    With `garbled`, it stores (and answers the MD5 of) other bytes than it received."""

    def __init__(self, *, garbled: bool = False) -> None:
        self.received: list[bytes] = []
        self.garbled = garbled
        cert, key = _self_signed_certificate()
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as folder:  # the context keeps what it loaded
            (Path(folder) / "cert.pem").write_bytes(cert)
            (Path(folder) / "key.pem").write_bytes(key)
            server_context.load_cert_chain(Path(folder) / "cert.pem", Path(folder) / "key.pem")
        self.client_context = ssl.create_default_context(cadata=cert.decode())
        self._tls = BackgroundServer(self._handler_class(), "tls-s3", tls=server_context)
        self._plain = BackgroundServer(self._handler_class(), "plain-s3")

    @property
    def port(self) -> int:
        return self._tls.port

    @property
    def tls_url(self) -> str:
        return f"https://127.0.0.1:{self._tls.port}/bucket/key?partNumber=1&X-Amz-Signature=abc"

    @property
    def plain_url(self) -> str:
        return f"{self._plain.url}/bucket/key?partNumber=1"

    def __enter__(self) -> TlsServer:
        self._tls.__enter__()
        self._plain.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._plain.__exit__()
        self._tls.__exit__()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.garbled:
                    body = body[::-1]
                outer.received.append(body)
                self.send_response(200)
                self.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


def _self_signed_certificate() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
