"""The folder routes through the local stack's gateway over HTTP: a folder started, sent and finished in
two calls, listed, and the batch routes behind the token like every other route."""

from __future__ import annotations

import requests

from backend.local import LocalStack
from tests.backend.routes_support import batch_file, ids_of, put_single
from tests.backend.support import Api


def test_a_folder_in_two_calls_and_its_listing(stack: LocalStack, api: Api) -> None:
    files = [batch_file(f"http-folder/{n}.txt", single=True, fileSize=len(f"file {n}")) for n in range(5)]
    started = api.ok("/initializeBatch", {"files": files})["files"]
    for n, entry in enumerate(started):
        assert put_single(entry, f"file {n}".encode()).status_code == 200
    finished = api.ok("/finalizeBatch", {"files": [ids_of(e) for e in started]})["files"]
    for n, done in enumerate(finished):
        assert requests.get(done["url"], timeout=10).content == f"file {n}".encode()
    listed = api.ok("/listUploads", {"state": "finished", "limit": 5})["uploads"]
    assert [u["fileKey"] for u in listed] == [f"http-folder/{n}.txt" for n in range(4, -1, -1)]
    capabilities = api.ok("/session", {})["capabilities"]
    assert {"clientToken", "batch", "singlePut", "listUploads"} <= set(capabilities)


def test_the_new_routes_need_the_token(api: Api) -> None:
    for route in ("/initializeBatch", "/finalizeBatch", "/listUploads"):
        assert api.post(route, {"files": []}, token=None).status_code == 401
        assert api.post(route, {"files": []}, token="not-a-token").status_code == 401
