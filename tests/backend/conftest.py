"""Backend fixtures: `Services` on moto's S3 with either table store, a `LocalStack`, an rclone S3 server.

Everything binds 127.0.0.1, every wait is bounded, and every server is stopped in teardown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from backend.apigw import Caller
from backend.config import Config
from backend.local import LocalStack
from backend.runtime import Route, Services, run_route
from backend.stores.dynamodb_tables import create_tables
from tests.backend.support import (
    ALICE,
    CDN,
    UNIT_BUCKET,
    Api,
    Flows,
    RcloneS3,
    Reply,
    proxy_event,
    rclone_serve_s3,
)

STORES = ["dynamodb", "sqlite"]


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which table store `services` uses; a test pins one with `parametrize(..., indirect=True)`."""
    return str(request.param)


@pytest.fixture
def services(store_kind: str, tmp_path: Path) -> Iterator[Services]:
    """`Services` on moto's in-process S3 with the bucket, and the tables on moto's DynamoDB or in SQLite."""
    table_store = "dynamodb" if store_kind == "dynamodb" else str(tmp_path / "tables.sqlite3")
    with mock_aws():
        config = Config(
            bucket=UNIT_BUCKET,
            cdn_base_url=CDN,
            region="us-east-1",
            table_store=table_store,
            parallel_calls=1,  # moto's in-process mock is not safe under concurrent calls
        )
        svc = Services(config)
        svc.s3.create_bucket(Bucket=UNIT_BUCKET)
        if store_kind == "dynamodb":
            create_tables(svc.dynamodb, config.files_table, config.tokens_table)
        yield svc
        svc.close()


@pytest.fixture
def call(services: Services) -> Callable[..., Reply]:
    """Run a route in-process: `call(route, body, caller=ALICE) -> Reply(status, json)`."""

    def run(
        route: Route, body: Any = None, *, caller: Caller | None = ALICE, raw: str | None = None
    ) -> Reply:
        answer = run_route(route, proxy_event(body, caller, raw=raw), services)
        return Reply(answer["statusCode"], json.loads(answer["body"]))

    return run


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as running:
        yield running


@pytest.fixture
def api(stack: LocalStack) -> Iterator[Api]:
    client = Api(stack.api_url, stack.token)
    yield client
    client.http.close()


@pytest.fixture(scope="module")
def rclone_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RcloneS3]:
    """`rclone serve s3` on a free 127.0.0.1 port (it checks SigV4 signatures and expiry)."""
    with rclone_serve_s3(tmp_path_factory.mktemp("rclone")) as server:
        yield server


@pytest.fixture
def flows() -> Flows:
    return Flows()
