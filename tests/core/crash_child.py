"""A process that uploads one file and dies (`os._exit`, as by kill -9) at a chosen boundary.

python -m tests.core.crash_child JOURNAL API_URL TOKEN FILE KEY BOUNDARY [PART]

BOUNDARY: `create` (right after the API started the multipart upload, before the journal knows its id),
`part` (right after S3 answered part PART's ETag, before the journal records it), `complete` (right
after S3 completed the upload, before the journal knows), `finish-record` (just before the journal
records it finished). It exits 0 only when the boundary was never reached.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from app.core import worker
from app.core.api import ApiClient
from app.core.engine import open_engine
from app.core.journal import Journal
from app.core.models import MIB, TransferSettings, UploadRequest

KILLED = 137
PART_SIZE = 5 * MIB


def die() -> None:
    sys.stdout.flush()
    os._exit(KILLED)


def die_after(name: str) -> None:
    """The API client's route `name` is answered, then the process dies."""
    route = getattr(ApiClient, name)

    def call_then_die(self: ApiClient, *args: Any, **kwargs: Any) -> Any:
        route(self, *args, **kwargs)
        die()

    setattr(ApiClient, name, call_then_die)


def arm(boundary: str, part: int) -> None:
    if boundary == "create":  # one upload alone, or the first of a new API, starts on its own
        die_after("initialize")
        die_after("initialize_batch")
    elif boundary == "part":
        send_part = worker.send_part

        def send_then_die(*args: Any, **kwargs: Any) -> Any:
            sent = send_part(*args, **kwargs)
            if args[3] // PART_SIZE + 1 == part:  # the offset names the part
                die()
            return sent

        worker.send_part = send_then_die  # type: ignore[assignment]
    elif boundary == "complete":
        die_after("finalize")
        die_after("finalize_batch")
    elif boundary == "finish-record":

        def die_before_recording(*_args: Any, **_kwargs: Any) -> None:
            die()

        Journal.set_finished = die_before_recording  # type: ignore[method-assign]
        Journal.set_finished_many = die_before_recording  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown boundary {boundary}")


def main() -> int:
    journal_path, api_url, token, file, key, boundary, *rest = sys.argv[1:]
    arm(boundary, int(rest[0]) if rest else 0)
    settings = TransferSettings(max_connections=2, per_file_connections=2, part_size=PART_SIZE)
    with open_engine(lambda _url: token, settings, journal_path=Path(journal_path)) as engine:
        cdn = os.environ.get("S3UP_TEST_CDN") or None
        metadata = {"organizationId": "o", "objectRecordId": "r"}
        added = engine.manager.add_many([UploadRequest(Path(file), api_url, key, metadata, cdn_base_url=cdn)])
        if added.refused:
            raise added.refused[0][1]
        engine.manager.wait([added.added[0].id], timeout=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
