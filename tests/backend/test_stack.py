"""The local stack's life cycle: fast start, isolation between stacks, nothing left running."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from backend.local import LocalStack
from tests.backend.support import seed_body


def test_two_stacks_in_one_process_share_nothing() -> None:
    before = set(threading.enumerate())
    with LocalStack() as first, LocalStack(url_expiry=60) as second:
        assert first.data_dir != second.data_dir
        assert first.s3_endpoint != second.s3_endpoint
        assert first.api_url != second.api_url
        folders = (first.data_dir, second.data_dir)
        headers = {"Authorization": first.token}
        started = requests.post(
            f"{first.api_url}/initialize", json=seed_body("iso.bin"), headers=headers, timeout=10
        )
        assert started.status_code == 200
        assert (
            requests.post(f"{second.api_url}/session", json={}, headers=headers, timeout=10).status_code
            == 401
        )
        signed = requests.post(
            f"{second.api_url}/getPreSignedUrls",
            json={**started.json(), "parts": 1},
            headers={"Authorization": second.token},
            timeout=10,
        )
        assert signed.status_code == 404  # the second stack has no record of the first one's upload
        assert first.startup_seconds < 5
        assert second.startup_seconds < 5
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(threading.enumerate()) - before == set()
    assert not any(folder.exists() for folder in folders)  # temporary folders are deleted


def test_presign_endpoint_names_another_address() -> None:
    with LocalStack(presign_endpoint="http://127.0.0.1:9") as stack:
        headers = {"Authorization": stack.token}
        started = requests.post(
            f"{stack.api_url}/initialize", json=seed_body("p.bin"), headers=headers, timeout=10
        )
        signed = requests.post(
            f"{stack.api_url}/getPreSignedUrls",
            json={**started.json(), "parts": 1},
            headers=headers,
            timeout=10,
        )
        url = urlsplit(signed.json()["parts"][0]["signedUrl"])
        assert url.netloc == "127.0.0.1:9"
        assert url.path.startswith(f"/{stack.bucket}/")
        assert urlsplit(stack.s3_endpoint).netloc != "127.0.0.1:9"


def test_stop_is_idempotent_and_a_stack_starts_once() -> None:
    stack = LocalStack().start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            stack.start()
    finally:
        stack.stop()
    stack.stop()


def test_handlers_import_neither_moto_nor_flask() -> None:
    code = (
        "import sys, backend.handlers.authorizer, backend.handlers.initialize, backend.handlers.presign, "
        "backend.handlers.presign_accelerated, backend.handlers.finalize, backend.handlers.list_parts, "
        "backend.handlers.abort_upload, backend.handlers.session; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('moto', 'flask', 'werkzeug')]; "
        "assert not bad, bad; assert 'backend.local' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
