"""The engine against a real S3 server that checks SigV4 signatures and expiry (`rclone serve s3`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, UploadState
from backend.local import LocalStack
from tests.backend.support import RcloneS3
from tests.core.adding import add_one
from tests.core.conftest import fetch, request, wait_for
from tests.fault_proxy import Fault, FaultProxy, Seen

STOPPED = {UploadState.DONE, UploadState.FAILED, UploadState.FILE_CHANGED, UploadState.NEEDS_SIGN_IN}


def test_urls_that_expire_within_seconds_are_signed_again(
    rclone_s3: RcloneS3,
    journal: Journal,
    make_manager: Callable[..., UploadManager],
    make_file: Callable[[str, int], Path],
) -> None:
    """URLs live 3 s and the upload takes about 6 s. The first part's PUT is held back 4 s so that its URL
    has expired when it reaches rclone, which refuses it; the engine signs it again without spending its
    one allowed attempt. Parts sent later get URLs from later signing calls."""
    lock = threading.Lock()
    puts: list[str] = []
    signing_calls: list[str] = []

    def hold_first_put(seen: Seen) -> Fault:
        with lock:
            if seen.method == "PUT" and "partNumber=" in seen.path:
                puts.append(seen.path)
                return Fault.SLOW_ANSWER if len(puts) == 1 else Fault.PASS
        return Fault.PASS

    def count_signing(seen: Seen) -> Fault:
        if seen.path.endswith("/getPreSignedUrls"):
            signing_calls.append(seen.path)
        return Fault.PASS

    with (
        FaultProxy(hold_first_put, slow_seconds=4.0) as s3_proxy,
        LocalStack(
            s3_endpoint=rclone_s3.endpoint,
            s3_credentials=rclone_s3.credentials,
            bucket="engine-expiry",
            url_expiry=3,
            presign_endpoint=s3_proxy.url,
        ) as local,
        FaultProxy(count_signing, local.api_url.rsplit("/prod", 1)[0]) as api_proxy,
    ):
        s3_proxy.upstream = rclone_s3.endpoint
        path = make_file("rclone-expiry.bin", 24 * MIB)
        manager = make_manager(
            journal, local.token, bandwidth_limit=4 * MIB, per_file_connections=2, max_attempts=1
        )
        upload_ref = add_one(manager, request(path, f"{api_proxy.url}/prod", "expiry/rclone-expiry.bin")).id
        status = wait_for(manager, upload_ref, STOPPED, timeout=120)
        assert status.state is UploadState.DONE, status.message
        assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]
    first_part = puts[0].split("partNumber=")[1].split("&")[0]
    assert sum(f"partNumber={first_part}&" in p or p.endswith(f"partNumber={first_part}") for p in puts) >= 2
    assert len(puts) >= 6  # 5 parts, at least one of them sent twice
    assert len(signing_calls) >= 3
    print(f"{len(puts)} part PUTs for 5 parts, {len(signing_calls)} signing calls")
