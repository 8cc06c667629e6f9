"""`LocalStack`: the whole upload API on this machine, in-process, with no AWS account.

```python
with LocalStack() as stack:
    requests.post(f"{stack.api_url}/session", json={}, headers={"Authorization": stack.token})
```

The handlers run in-process behind the API Gateway stand-in, on `Services` built here (never
through `os.environ`), with their records in a SQLite file and their objects in an embedded S3
server (SigV4-checking, on disk) unless `s3_endpoint` names another one (e.g. `rclone serve s3`).
Both live in a data folder (`backend.local.datadir`): with `data_dir`, a stopped or killed stack
started again on the folder has every upload, part, object, token and link it had, on the same
ports; without, a temporary folder is used and deleted by `stop()`. `stop()` leaves no thread.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Mapping, MutableMapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from backend.config import DEFAULT_URL_EXPIRY, Config
from backend.handlers import authorizer
from backend.local import cdn, existing
from backend.local.authcache import Clock
from backend.local.datadir import DataDir
from backend.local.events import LambdaContext
from backend.local.gateway import INTEGRATION_TIMEOUT, ApiGateway, LambdaFn
from backend.local.s3 import inprocess
from backend.local.s3.http import S3Server
from backend.local.s3.service import S3Service, StoreSource
from backend.local.s3.store import S3Store
from backend.local.server import LocalServer
from backend.routes import routes
from backend.runtime import Route, Services, new_session, run_route
from backend.tokens import TokenRejectedError, hash_token, token_from_header

log = logging.getLogger(__name__)

STAGE = "prod"
DEFAULT_BUCKET = "s3up-local"
ROUTES: Mapping[str, Route] = routes()


class PortInUseError(OSError):
    """The port the stack must use (`address`, host:port) is taken; the message is a sentence saying what
    to do."""

    def __init__(self, errno: int | None, message: str, address: str) -> None:
        super().__init__(errno, message)
        self.address = address


def _as_lambda(route: Route, services: Services) -> LambdaFn:
    def function(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        return run_route(route, event, services)

    return function


def _epoch(value: float | datetime | None) -> int | None:
    if value is None:
        return None
    return int(value.timestamp() if isinstance(value, datetime) else value)


def _in_use(exc: OSError) -> bool:
    return exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL)


class LocalStack:
    """A running local API: `api_url`, `cdn_base_url`, `token`, and a client on its S3."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = 0,
        default_port: int = 0,
        data_dir: Path | str | None = None,
        token: str | None = None,
        url_expiry: int = DEFAULT_URL_EXPIRY,
        core_only: bool = False,
        s3_endpoint: str | None = None,
        bucket: str | None = None,
        presign_endpoint: str | None = None,
        function_timeout: float | None = None,
        principal: str = "local-user",
        organization_id: str = "local-org",
        key_prefix: str = "",
        region: str = "us-east-1",
        s3_credentials: tuple[str, str] | None = None,
        authorizer_cache_ttl: float | None = None,
        integration_timeout: float = INTEGRATION_TIMEOUT,
        clock: Clock = time.monotonic,
    ) -> None:
        """Configure (nothing starts before `start()` or `with`).

        `port`: 0 for any free port; None for the port the data folder used last (so old links
        keep working), else `default_port`. `data_dir`: where the stack keeps its state; None
        for a temporary folder deleted by `stop()`. `token` is registered unless the folder has
        it; without one, the folder's own token is reused (or one issued). `s3_credentials` (key
        id, secret) are for `s3_endpoint`; without them the default AWS credential chain is used.
        `presign_endpoint` is the endpoint presigned URLs name (e.g. a fault-injecting proxy).
        `function_timeout` (Lambda's, s) defaults to 3 in core-only mode, else to none;
        `authorizer_cache_ttl` (s) to 300 in core-only mode, else to what `infra/` deploys;
        `clock` is the gateway's (tests pass a fake one to expire cached authorizer answers).
        """
        self.host, self.port, self.default_port = host, port, default_port
        self.core_only = core_only
        self.url_expiry = url_expiry
        self.function_timeout = function_timeout
        self.authorizer_cache_ttl = authorizer_cache_ttl
        self.integration_timeout = integration_timeout
        self.presign_endpoint = presign_endpoint
        self.region = region
        self.bucket = bucket or DEFAULT_BUCKET
        self._requested_data_dir = Path(data_dir).expanduser() if data_dir is not None else None
        self._external_s3 = s3_endpoint
        self._s3_credentials = s3_credentials
        self._initial_token = token
        self._identity = (principal, organization_id, key_prefix)
        self._clock = clock
        self._denied: set[str] = set()  # hashes of the tokens `deny_token` named
        self._data: DataDir | None = None
        self._store: S3Store | None = None
        self._s3_service: S3Service | None = None
        self._s3_server: S3Server | None = None
        self._server: LocalServer | None = None
        self._gateway: ApiGateway | None = None
        self._services: Services | None = None
        self.token = ""
        self.api_url = ""
        self.cdn_base_url = ""
        self.s3_endpoint = ""
        self.startup_seconds = 0.0

    # ---- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        """Open the data folder, start S3, the table store and the gateway, and serve; returns self.

        Raises `PortInUseError` or `DataDirError` (sentences a person can act on) and stops
        whatever it had started.
        """
        if self._data is not None:
            raise RuntimeError("this LocalStack is already running")
        began = time.perf_counter()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - began
        log.info(
            "local stack up in %.2f s at %s (data in %s)", self.startup_seconds, self.api_url, self.data_dir
        )
        return self

    def _start(self) -> None:
        data = self._data = DataDir(self._requested_data_dir).open()
        self._server = self._bind_api(data)
        self.api_url = f"{self._server.url}/{STAGE}"
        self.cdn_base_url = f"{self._server.url}/cdn"
        s3_session = self._start_s3(data)
        config = Config(
            bucket=self.bucket,
            url_expiry=self.url_expiry,
            cdn_base_url=self.cdn_base_url,
            s3_endpoint_url=self.s3_endpoint,
            s3_public_endpoint_url=self.presign_endpoint,
            region=self.region,
            core_only=self.core_only,
            table_store=str(data.tables_path),
        )
        services = self._services = Services(config, s3_session=s3_session)
        self._ensure_bucket(services)
        self._warm_up(services)
        self.token = self._own_token(services, data)
        data.state.api_port = self._server.port
        data.save()
        self._gateway = self._build_gateway(services)
        origin: cdn.ObjectSource = cdn.ClientSource(services.s3, self.bucket)
        if self._store is not None:  # the embedded server's objects are read in-process
            origin = StoreSource(self._store, self.bucket)
        self._server.serve(self._gateway, lambda key, span, head: cdn.fetch(origin, key, span, head=head))

    def _bind_api(self, data: DataDir) -> LocalServer:
        saved = data.state.api_port
        port = self.port if self.port is not None else (saved or self.default_port)
        try:
            return LocalServer(self.host, port)
        except OSError as exc:
            if not _in_use(exc):
                raise
            links = (
                " Links from before use that port, so they work again once it is free."
                if port == saved
                else ""
            )
            raise PortInUseError(
                exc.errno,
                f"The local API cannot listen on {self.host}:{port}: {exc.strerror or 'the port is in use'}. "
                f"Stop the program that uses it, or choose another port (--port).{links}",
                f"{self.host}:{port}",
            ) from exc

    def _start_s3(self, data: DataDir) -> Any:
        """Start the embedded S3 server (or use `s3_endpoint`); returns the boto3 session for it."""
        if self._external_s3 is not None:
            self.s3_endpoint = self._external_s3
            return self._external_session()
        self._store = S3Store(data.s3_root)
        key_id, secret = data.state.s3_access_key, data.state.s3_secret_key
        service = self._s3_service = S3Service(self._store, {key_id: secret})
        try:  # the port of last time, so that URLs signed before a restart still reach it
            self._s3_server = S3Server(service, self.host, data.state.s3_port or 0)
        except OSError as exc:
            if not _in_use(exc) or not data.state.s3_port:
                raise
            log.warning("S3 port %s is taken; the local S3 server moves to another one", data.state.s3_port)
            self._s3_server = S3Server(service, self.host, 0)
        self._s3_server.start()
        data.state.s3_port = self._s3_server.port
        self.s3_endpoint = self._s3_server.url
        return new_session(region_name=self.region, aws_access_key_id=key_id, aws_secret_access_key=secret)

    def _external_session(self) -> Any:
        if self._s3_credentials is not None:
            key_id, secret = self._s3_credentials
            return new_session(
                region_name=self.region, aws_access_key_id=key_id, aws_secret_access_key=secret
            )
        session = new_session(region_name=self.region)
        if session.get_credentials() is None:
            raise RuntimeError(
                f"no AWS credentials for the S3 endpoint {self._external_s3}: set AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY to the key that server accepts"
            )
        return session

    def _ensure_bucket(self, services: Services) -> None:
        if self._store is not None:
            if not self._store.has_bucket(self.bucket):
                self._store.create_bucket(self.bucket)
            return
        from botocore.exceptions import ClientError

        try:
            services.s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            services.s3.create_bucket(Bucket=self.bucket)

    def _warm_up(self, services: Services) -> None:
        """Build the handlers' S3 clients now (each costs tens of milliseconds once), not on a request;
        on the embedded server, their calls go in-process."""
        if self._s3_service is not None:
            inprocess.attach(services.s3, self._s3_service)
            services.s3.head_bucket(Bucket=self.bucket)
        services.presigner.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": "warm-up"}, ExpiresIn=60
        )

    def _own_token(self, services: Services, data: DataDir) -> str:
        """The stack's token: the one asked for, else the folder's own while usable, else a new one."""
        tokens = services.tokens
        principal, organization_id, key_prefix = self._identity
        if self._initial_token:
            token = self._initial_token
            if tokens.get(token) is None:
                tokens.create(principal, organization_id, key_prefix, token=token)
        elif data.state.token and self._usable(services, data.state.token):
            token = data.state.token
        else:
            token, _ = tokens.create(principal, organization_id, key_prefix)
        data.state.token = token
        return token

    @staticmethod
    def _usable(services: Services, token: str) -> bool:
        try:
            services.tokens.verify(token)
        except TokenRejectedError:
            return False
        return True

    def _build_gateway(self, services: Services) -> ApiGateway:
        routes = {path: _as_lambda(route, services) for path, route in ROUTES.items()}

        def authorize(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
            return authorizer.authorize(event, services)

        check_token: LambdaFn = authorize
        if self.core_only:  # the existing deployment's own failures (never in our handlers)
            routes["/initialize"] = existing.initialize(routes["/initialize"])
            check_token = existing.authorizer(authorize)
        check_token = self._denying(check_token)
        return ApiGateway(
            routes,
            check_token,
            region=self.region,
            stage=STAGE,
            core_only=self.core_only,
            function_timeout=self.function_timeout,
            integration_timeout=self.integration_timeout,
            authorizer_cache_ttl=self.authorizer_cache_ttl,
            clock=self._clock,
        )

    def stop(self) -> None:
        """Stop serving, close the stores, let go of the data folder (deleted if temporary). Idempotent."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None
        if self._services is not None:
            self._services.close()
            self._services = None
        if self._s3_server is not None:
            self._s3_server.stop()
            self._s3_server = None
        if self._store is not None:
            self._store.close()
            self._store = None
            self._s3_service = None
        if self._data is not None:
            self._data.close()
            self._data = None

    # ---- what tests and the app use --------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        """The folder the stack keeps its state in (a temporary one unless `data_dir` was given)."""
        if self._data is None:
            raise RuntimeError("the LocalStack is not running")
        return self._data.path

    @property
    def services(self) -> Services:
        """The `Services` the handlers run on (config, S3 client, table stores)."""
        if self._services is None:
            raise RuntimeError("the LocalStack is not running")
        return self._services

    @property
    def s3(self) -> Any:
        """A boto3 S3 client on the stack's S3 endpoint (path-style, SigV4)."""
        return self.services.s3

    @property
    def s3_credentials(self) -> tuple[str, str] | None:
        """The key pair the embedded S3 server accepts (None with `s3_endpoint`)."""
        if self._data is None or self._store is None:
            return None
        return self._data.state.s3_access_key, self._data.state.s3_secret_key

    @property
    def routes(self) -> MutableMapping[str, LambdaFn]:
        """Route → Lambda-shaped function; replace an entry to inject a fault."""
        if self._gateway is None:
            raise RuntimeError("the LocalStack is not running")
        return self._gateway.routes

    def issue_token(
        self,
        principal: str = "bob",
        organization_id: str = "org-2",
        key_prefix: str = "",
        expires_at: float | datetime | None = None,
    ) -> str:
        """Store a new random token and return it."""
        token, _ = self.services.tokens.create(principal, organization_id, key_prefix, _epoch(expires_at))
        return token

    def revoke_token(self, token: str, *, flush_cache: bool = True) -> None:
        """Revoke a token. With `flush_cache` (as an operator would run `aws apigateway
        flush-stage-authorizers-cache` after revoking) the next request with it gets 401; without,
        the gateway keeps answering from its cached policy until that expires, as API Gateway does."""
        self.services.tokens.revoke(hash_token(token))
        if flush_cache:
            self.flush_authorizer_cache()

    def deny_token(self, token: str, *, flush_cache: bool = True) -> None:
        """Test hook: from now on the authorizer answers this token with a Deny policy (an authorizer
        that suspends a user), which API Gateway turns into its 403. With `flush_cache` (the token's
        cached answer is flushed), at once; without, once its cached Allow expires."""
        self._denied.add(hash_token(token))
        if flush_cache and self._gateway is not None:
            self._gateway.cache.flush(token)

    def _denying(self, check_token: LambdaFn) -> LambdaFn:
        def function(event: Mapping[str, Any], context: LambdaContext) -> Any:
            token = token_from_header(event.get("authorizationToken"))
            if token and hash_token(token) in self._denied:
                resource = authorizer.stage_wildcard(str(event.get("methodArn", "")))
                statement = {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": resource}
                return {
                    "principalId": "denied",
                    "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                }
            return check_token(event, context)

        return function

    def flush_authorizer_cache(self) -> None:
        """Forget every cached authorizer answer (API Gateway's FlushStageAuthorizersCache)."""
        if self._gateway is not None:
            self._gateway.cache.flush()
