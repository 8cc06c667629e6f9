"""The same end-to-end flows against `rclone serve s3`, a server that checks SigV4 and expiry."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import requests

from backend.local import LocalStack
from tests.backend.support import MIB, Api, Flows, RcloneS3, seed_body

DATA = os.urandom(10 * MIB + 777)


@pytest.fixture(scope="module")
def rclone_stack(rclone_s3: RcloneS3) -> Iterator[LocalStack]:
    with LocalStack(
        s3_endpoint=rclone_s3.endpoint, bucket="e2e", s3_credentials=rclone_s3.credentials
    ) as running:
        yield running


@pytest.fixture
def rclone_api(rclone_stack: LocalStack) -> Iterator[Api]:
    client = Api(rclone_stack.api_url, rclone_stack.token)
    yield client
    client.http.close()


def test_seed_flow(rclone_stack: LocalStack, rclone_api: Api, flows: Flows) -> None:
    _, finished = flows.seed(rclone_api, "rclone/seed.bin", DATA)
    assert finished["size"] == len(DATA)
    assert finished["url"].startswith(rclone_stack.cdn_base_url)
    assert rclone_api.http.get(finished["url"], timeout=30).content == DATA


def test_batched_flow_list_parts_and_abort(rclone_api: Api, flows: Flows) -> None:
    finished = flows.batched(rclone_api, "rclone/batched.bin", DATA, batch=2)
    assert rclone_api.http.get(finished["url"], timeout=30).content == DATA
    started = rclone_api.ok("/initialize", seed_body("rclone/aborted.bin"))
    ids = {"fileId": started["fileId"], "fileKey": started["fileKey"]}
    flows.put_parts(
        rclone_api.ok("/getPreSignedUrls", {**ids, "partNumbers": [1]})["parts"], {1: b"x" * 1000}
    )
    assert [p["Size"] for p in rclone_api.ok("/listParts", ids)["parts"]] == [1000]
    assert rclone_api.ok("/abortUpload", ids) == {}
    assert rclone_api.post("/listParts", ids).status_code == 404


def test_a_tampered_signature_is_refused(rclone_api: Api) -> None:
    started = rclone_api.ok("/initialize", seed_body("rclone/tampered.bin"))
    url = rclone_api.ok("/getPreSignedUrls", {**started, "parts": 1})["parts"][0]["signedUrl"]
    answer = requests.put(url.replace("partNumber=1", "partNumber=2"), data=b"x", timeout=10)
    assert answer.status_code == 403
    assert "SignatureDoesNotMatch" in answer.text


def test_an_expired_url_is_refused(rclone_s3: RcloneS3) -> None:
    with LocalStack(
        s3_endpoint=rclone_s3.endpoint, bucket="expiry", s3_credentials=rclone_s3.credentials, url_expiry=2
    ) as short:
        api = Api(short.api_url, short.token)
        started = api.ok("/initialize", seed_body("rclone/expiring.bin"))
        signed = api.ok("/getPreSignedUrls", {**started, "parts": 2})
        assert signed["expiresIn"] == 2
        fresh, stale = (p["signedUrl"] for p in signed["parts"])
        assert requests.put(fresh, data=b"in time", timeout=10).status_code == 200
        time.sleep(3.1)
        late = requests.put(stale, data=b"too late", timeout=10)
        api.http.close()
    assert late.status_code in (400, 403)
    assert "AccessDenied" in late.text
