"""End to end through the local gateway with `requests`, in the seed's exact request shapes."""

from __future__ import annotations

import os

from backend.files import Upload, UploadState
from backend.local import LocalStack
from tests.backend.support import MIB, Api, Flows, seed_body

DATA = os.urandom(10 * MIB + 12345)  # three parts of 5 MiB, the last one short


def item_for(stack: LocalStack, upload_id: str) -> Upload:
    upload = stack.services.files.find(upload_id)
    assert upload is not None
    return upload


def test_seed_flow_three_parts(stack: LocalStack, api: Api, flows: Flows) -> None:
    started, finished = flows.seed(api, "image/path.jpg", DATA)
    assert finished == {
        "imagePath": "image/path.jpg",
        "url": f"{stack.cdn_base_url}/image/path.jpg",
        "size": len(DATA),
    }
    served = api.http.get(finished["url"], timeout=30)
    assert served.status_code == 200
    assert served.content == DATA
    assert served.headers["Content-Type"] == "image/jpeg"
    item = item_for(stack, started["fileId"])
    assert item.state is UploadState.FINISHED
    assert item.size == len(DATA)


def test_batched_flow_with_part_numbers_and_list_parts(stack: LocalStack, api: Api, flows: Flows) -> None:
    finished = flows.batched(api, "batched/data.bin", DATA, batch=2)
    assert finished["size"] == len(DATA)
    served = api.http.get(finished["url"], timeout=30)
    assert served.content == DATA
    assert served.headers["Content-Type"] == "application/x-test"


def test_abort_upload(stack: LocalStack, api: Api, flows: Flows) -> None:
    started = api.ok("/initialize", seed_body("aborted/one.bin"))
    ids = {"fileId": started["fileId"], "fileKey": started["fileKey"]}
    signed = api.ok("/getPreSignedUrls", {**ids, "partNumbers": [1]})
    flows.put_parts(signed["parts"], {1: b"partial"})
    assert len(api.ok("/listParts", ids)["parts"]) == 1
    assert api.ok("/abortUpload", ids) == {}
    uploads = stack.s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", [])
    assert started["fileId"] not in [u["UploadId"] for u in uploads]
    assert item_for(stack, started["fileId"]).state is UploadState.ABORTED
    assert api.post("/listParts", ids).status_code == 404


def test_session_and_bearer_tokens(stack: LocalStack, api: Api) -> None:
    mine = api.ok("/session", {}, token=f"Bearer {stack.token}")
    assert mine["principal"] == "local-user"
    assert mine["capabilities"][:4] == ["partNumbers", "listParts", "abortUpload", "url"]
    bob = stack.issue_token("bob", "org-2")
    assert api.ok("/session", {}, token=bob)["organizationId"] == "org-2"
    stack.revoke_token(bob)
    assert api.post("/session", {}, token=bob).status_code == 401


def test_another_principal_cannot_touch_my_upload(stack: LocalStack, api: Api) -> None:
    started = api.ok("/initialize", seed_body("mine/only.bin"))
    ids = {"fileId": started["fileId"], "fileKey": started["fileKey"]}
    bob = stack.issue_token("bob", "org-2")
    for route, extra in (("/getPreSignedUrls", {"parts": 1}), ("/listParts", {}), ("/abortUpload", {})):
        refused = api.post(route, {**ids, **extra}, token=bob)
        assert refused.status_code == 403
        assert refused.json()["type"] == "ACCESS_DENIED"
    assert api.ok("/listParts", ids) == {"parts": []}


def test_overwrite_needs_consent(stack: LocalStack, api: Api, flows: Flows) -> None:
    flows.seed(api, "twice.bin", b"first")
    refused = api.post("/initialize", seed_body("twice.bin"))
    assert refused.status_code == 409
    _, finished = flows.seed(api, "twice-ok.bin", b"one")
    started = api.ok("/initialize", seed_body("twice-ok.bin", overwrite=True))
    assert started["fileKey"] == "twice-ok.bin"
    assert finished["size"] == 3
