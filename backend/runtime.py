"""What every handler runs on: `Services` (config + boto3 clients) and the Lambda entry glue.

A route is `handle(request, services) -> dict` (the JSON answer). `run_route` turns a proxy
event into a proxy answer around it: `ApiError` becomes its 4xx answer, anything else
propagates (on AWS that is API Gateway's 502). `lambda_handler(handle)` builds the
`handler(event, context)` AWS calls, with `Services` from the environment, cached per `Config`.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import boto3
import botocore.exceptions
import botocore.loaders
import botocore.session
import botocore.utils

from backend.apigw import ApiError, ApiRequest, error_response, json_response
from backend.config import Config
from backend.files import FileStore
from backend.s3 import client_config
from backend.stores.dynamodb import DynamoFileStore
from backend.stores.dynamodb_tokens import DynamoTokenStore
from backend.stores.sqlite import SqliteDatabase, SqliteFileStore, SqliteTokenStore
from backend.tokens import TokenStore

DEFAULT_REGION = "us-east-1"
LambdaHandler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


_LOADER = botocore.loaders.create_loader()


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamps, with S3's ISO 8601 form ("2026-11-30T23:45:45.000Z") read by the
    standard library: dateutil's parser, botocore's default, cost more than the rest of parsing a
    listing (a /finalizeBatch lists up to a thousand objects)."""
    if isinstance(value, str) and value.endswith("Z"):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return botocore.utils.parse_timestamp(value)


def new_session(**kwargs: Any) -> boto3.Session:
    """A boto3 Session (kwargs as `boto3.Session`) sharing one process-wide model loader.

    Sessions otherwise re-read the service models, which makes each new client cost ~0.2 s.
    """
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    return boto3.Session(botocore_session=core, **kwargs)


def _resolve_endpoints_without_key(client: Any) -> None:
    """botocore finds each request's endpoint from its parameters, the object key among them, and
    caches the answer per set of parameters: every new key is a miss, and evaluating S3's rule set
    costs more than signing the URL (a /initializeBatch signs one URL per file). No rule of S3's
    rule set reads the key (checked here; otherwise nothing changes), so it is left out, and every
    key of a bucket shares one cached endpoint."""
    try:
        model = client.meta.service_model
        rules = _LOADER.load_service_model(model.service_name, "endpoint-rule-set-1", model.api_version)
        if '"ref": "Key"' in json.dumps(rules["rules"]):
            return
        provider = client._ruleset_resolver._provider
    except (AttributeError, KeyError, botocore.exceptions.DataNotFoundError):
        return  # another botocore: its own caching stands
    resolve = provider.resolve_endpoint
    provider.resolve_endpoint = lambda **params: resolve(**{k: v for k, v in params.items() if k != "Key"})


class Services:
    """A `Config` and the clients and stores built from it, created on first use (thread-safe) and reused.

    `files` and `tokens` are on DynamoDB, or in one SQLite file when `config.table_store` names one.
    """

    def __init__(
        self,
        config: Config,
        *,
        s3_session: boto3.Session | None = None,
        dynamodb_session: boto3.Session | None = None,
    ) -> None:
        self.config = config
        self._s3_session = s3_session
        self._dynamodb_session = dynamodb_session
        self._session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}
        self._stores: dict[str, Any] = {}
        self._database: SqliteDatabase | None = None
        self._lock = threading.RLock()

    @property
    def bucket(self) -> str:
        return self.config.require_bucket()

    @property
    def region(self) -> str:
        return self.config.region or DEFAULT_REGION

    def _default_session(self) -> boto3.Session:
        if self._session is None:
            self._session = new_session()
        return self._session

    def _client(self, name: str, factory: Callable[[], Any]) -> Any:
        with self._lock:  # boto3 sessions are not safe to build clients from concurrently
            if name not in self._clients:
                self._clients[name] = factory()
            return self._clients[name]

    def _s3_client(self, endpoint: str | None, *, accelerate: bool = False) -> Any:
        session = self._s3_session or self._default_session()
        client = session.client(
            "s3",
            region_name=self.region,
            endpoint_url=endpoint,
            config=client_config(local=self.config.is_local, accelerate=accelerate),
        )
        _resolve_endpoints_without_key(client)
        return client

    @property
    def s3(self) -> Any:
        """S3 client for the API calls the handlers make."""
        return self._client("s3", lambda: self._s3_client(self.config.s3_endpoint_url))

    @property
    def presigner(self) -> Any:
        """S3 client whose presigned URLs name the endpoint clients reach."""
        if self.config.presign_endpoint_url == self.config.s3_endpoint_url:
            return self.s3
        return self._client("presigner", lambda: self._s3_client(self.config.presign_endpoint_url))

    @property
    def accelerated_presigner(self) -> Any:
        """Presigns through S3 Transfer Acceleration on AWS; the plain presigner locally."""
        if self.config.is_local:
            return self.presigner
        return self._client("accelerated", lambda: self._s3_client(None, accelerate=True))

    @property
    def dynamodb(self) -> Any:
        def build() -> Any:
            session = self._dynamodb_session or self._default_session()
            return session.client(
                "dynamodb", region_name=self.region, endpoint_url=self.config.dynamodb_endpoint_url
            )

        return self._client("dynamodb", build)

    def _sqlite(self, path: str) -> SqliteDatabase:
        if self._database is None:
            self._database = SqliteDatabase(path)
        return self._database

    def _store(
        self, name: str, on_dynamodb: Callable[[], Any], on_sqlite: Callable[[SqliteDatabase], Any]
    ) -> Any:
        with self._lock:
            if name not in self._stores:
                path = self.config.sqlite_path
                self._stores[name] = on_dynamodb() if path is None else on_sqlite(self._sqlite(path))
            return self._stores[name]

    @property
    def files(self) -> FileStore:
        """Uploads, client tokens and publications."""
        return self._store(
            "files",
            lambda: DynamoFileStore(
                self.dynamodb, self.config.files_table, parallel_calls=self.config.concurrency
            ),
            SqliteFileStore,
        )

    @property
    def tokens(self) -> TokenStore:
        """Hashed API tokens."""
        return self._store(
            "tokens",
            lambda: DynamoTokenStore(self.dynamodb, self.config.tokens_table),
            SqliteTokenStore,
        )

    def close(self) -> None:
        """Close every client and the SQLite file opened so far (their connections with them)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
            database, self._database = self._database, None
            self._stores = {}
        for client in clients:
            client.close()
        if database is not None:
            database.close()


@functools.lru_cache(maxsize=4)
def _services_for(config: Config) -> Services:
    return Services(config)


def services_from_env() -> Services:
    """`Services` for the current environment; reused while the environment is unchanged."""
    return _services_for(Config.from_env())


Route = Callable[[ApiRequest, Services], dict[str, Any]]
GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024
_BODY_LIMIT = "max_body_bytes"


def body_limit(max_bytes: int) -> Callable[[Route], Route]:
    """Mark a route with the largest body it can use; a larger one gets 413 before it is parsed."""

    def mark(handle: Route) -> Route:
        setattr(handle, _BODY_LIMIT, max_bytes)
        return handle

    return mark


def max_body_bytes(handle: Route) -> int:
    """The body limit `body_limit` set on a route (API Gateway's 10 MB when none was set)."""
    return int(getattr(handle, _BODY_LIMIT, GATEWAY_MAX_BODY_BYTES))


def run_route(handle: Route, event: Mapping[str, Any], services: Services) -> dict[str, Any]:
    """Parse the event (refusing a body over the route's limit unparsed), run the route, answer
    200 with its JSON or the `ApiError`'s 4xx."""
    try:
        request = ApiRequest.from_event(event, max_body_bytes=max_body_bytes(handle))
        return json_response(200, handle(request, services))
    except ApiError as error:
        return error_response(error)


def lambda_handler(handle: Route) -> LambdaHandler:
    """The AWS Lambda entry point for a route: `handler(event, context)`."""

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return run_route(handle, event, services_from_env())

    handler.__doc__ = handle.__doc__
    return handler
