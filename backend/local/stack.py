"""`LocalStack`: the whole upload API on this machine, in-process, with no AWS account.

```python
with LocalStack() as stack:
    requests.post(f"{stack.api_url}/session", json={}, headers={"Authorization": stack.token})
```

An embedded moto server provides DynamoDB, and S3 unless `s3_endpoint` names another server
(e.g. `rclone serve s3`). The handlers run in-process behind the API Gateway stand-in, with a
`Config` built here (never through `os.environ`), so several stacks can share a process: each
gets its own moto server and, unless names are given, its own bucket and tables. `stop()`
deletes what it created on moto and leaves no thread running.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping, MutableMapping
from datetime import datetime
from types import TracebackType
from typing import Any

from backend.config import DEFAULT_FILES_TABLE, DEFAULT_TOKENS_TABLE, DEFAULT_URL_EXPIRY, Config
from backend.handlers import authorizer
from backend.local import cdn, resources
from backend.local.events import LambdaContext
from backend.local.gateway import ApiGateway, LambdaFn
from backend.local.server import LocalServer
from backend.routes import routes
from backend.runtime import Route, Services, new_session, run_route
from backend.tokens import hash_token

log = logging.getLogger(__name__)

STAGE = "prod"
ROUTES: Mapping[str, Route] = routes()
_DUMMY_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def _as_lambda(route: Route, services: Services) -> LambdaFn:
    def function(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        return run_route(route, event, services)

    return function


def _epoch(value: float | datetime | None) -> int | None:
    if value is None:
        return None
    return int(value.timestamp() if isinstance(value, datetime) else value)


class LocalStack:
    """A running local API: `api_url`, `cdn_base_url`, `token`, and clients on its S3 and DynamoDB."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
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
        files_table: str | None = None,
        tokens_table: str | None = None,
        region: str = "us-east-1",
        s3_credentials: tuple[str, str] | None = None,
    ) -> None:
        """Configure (nothing starts before `start()` or `with`).

        Without `bucket`/`files_table`/`tokens_table`, moto-backed names get a random suffix so
        that stacks in one process never share data. `s3_credentials` (access key id, secret) are
        for `s3_endpoint`; without them the default AWS credential chain is used there.
        `presign_endpoint` is the endpoint presigned URLs name (e.g. a fault-injecting proxy).
        """
        suffix = secrets.token_hex(4)
        self.host, self.port = host, port
        self.core_only = core_only
        self.url_expiry = url_expiry
        self.function_timeout = function_timeout
        self.presign_endpoint = presign_endpoint
        self.region = region
        self.bucket = bucket or ("s3up-local" if s3_endpoint else f"s3up-local-{suffix}")
        self.files_table = files_table or f"{DEFAULT_FILES_TABLE}-{suffix}"
        self.tokens_table = tokens_table or f"{DEFAULT_TOKENS_TABLE}-{suffix}"
        self._external_s3 = s3_endpoint
        self._s3_credentials = s3_credentials
        self._initial_token = token
        self._identity = (principal, organization_id, key_prefix)
        self._moto: Any = None
        self._server: LocalServer | None = None
        self._gateway: ApiGateway | None = None
        self._services: Services | None = None
        self._created_bucket = False
        self._created_tables = False
        self.token = ""
        self.api_url = ""
        self.cdn_base_url = ""
        self.s3_endpoint = ""
        self.dynamodb_endpoint = ""
        self.startup_seconds = 0.0

    # ---- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        """Start moto, create bucket and tables, register the token and serve; returns self."""
        if self._server is not None:
            raise RuntimeError("this LocalStack is already running")
        began = time.perf_counter()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - began
        log.info("local stack up in %.2f s at %s", self.startup_seconds, self.api_url)
        return self

    def _start(self) -> None:
        from moto.server import ThreadedMotoServer  # the local extra; never imported by handlers

        werkzeug = logging.getLogger("werkzeug")
        if werkzeug.level == logging.NOTSET:
            werkzeug.setLevel(logging.WARNING)  # moto's server would log every request
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        moto_host, moto_port = self._moto.get_host_and_port()
        moto_url = f"http://{moto_host}:{moto_port}"
        self.dynamodb_endpoint = moto_url
        self.s3_endpoint = self._external_s3 or moto_url

        self._server = LocalServer(self.host, self.port)
        self.api_url = f"{self._server.url}/{STAGE}"
        self.cdn_base_url = f"{self._server.url}/cdn"
        config = Config(
            bucket=self.bucket,
            files_table=self.files_table,
            tokens_table=self.tokens_table,
            url_expiry=self.url_expiry,
            cdn_base_url=self.cdn_base_url,
            s3_endpoint_url=self.s3_endpoint,
            dynamodb_endpoint_url=self.dynamodb_endpoint,
            s3_public_endpoint_url=self.presign_endpoint,
            region=self.region,
            core_only=self.core_only,
        )
        moto_session = new_session(region_name=self.region, **_DUMMY_CREDENTIALS)
        self._services = Services(
            config, s3_session=self._s3_session(moto_session), dynamodb_session=moto_session
        )

        resources.create_tables(self.dynamodb, self.files_table, self.tokens_table)
        self._created_tables = True
        self._created_bucket = resources.ensure_bucket(self.s3, self.bucket)
        principal, organization_id, key_prefix = self._identity
        self.token, _ = self._services.tokens.create(
            principal, organization_id, key_prefix, token=self._initial_token
        )

        services = self._services
        self._gateway = ApiGateway(
            {path: _as_lambda(route, services) for path, route in ROUTES.items()},
            lambda event, context: authorizer.authorize(event, services),
            region=self.region,
            stage=STAGE,
            core_only=self.core_only,
            function_timeout=self.function_timeout,
        )
        self._server.start(
            self._gateway,
            lambda key, byte_range, head: cdn.fetch(self.s3, self.bucket, key, byte_range, head=head),
        )

    def _s3_session(self, moto_session: Any) -> Any:
        if self._external_s3 is None:
            return moto_session
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

    def stop(self) -> None:
        """Stop serving, delete what was created on moto, close clients, stop moto. Idempotent."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None
        if self._services is not None:
            try:
                self._clean_up()
            except Exception:
                log.warning("could not delete the local stack's bucket or tables", exc_info=True)
            self._services.close()
            self._services = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def _clean_up(self) -> None:
        if self._created_tables:
            resources.delete_tables(self.dynamodb, self.files_table, self.tokens_table)
            self._created_tables = False
        if self._created_bucket and self._external_s3 is None:
            resources.delete_bucket(self.s3, self.bucket)
            self._created_bucket = False

    # ---- what tests and the app use --------------------------------------------------------
    @property
    def services(self) -> Services:
        """The `Services` the handlers run on (config and clients)."""
        if self._services is None:
            raise RuntimeError("the LocalStack is not running")
        return self._services

    @property
    def s3(self) -> Any:
        """A boto3 S3 client on the stack's S3 endpoint (path-style, SigV4)."""
        return self.services.s3

    @property
    def dynamodb(self) -> Any:
        """A boto3 DynamoDB client on the stack's moto server."""
        return self.services.dynamodb

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

    def revoke_token(self, token: str) -> None:
        """Revoke a token; the next request with it gets 401."""
        self.services.tokens.revoke(hash_token(token))
