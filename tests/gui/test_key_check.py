"""The Start dialog's key checks: recent uploads from the journal's history, and HEAD requests at the CDN."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from app.core.models import UploadState
from app.gui.key_check import HEAD_LIMIT, cdn_base, existing_keys, recently_uploaded
from tests.gui.test_upload_table_model import status

API = "https://api.example.test/prod"


class Cdn(BaseHTTPRequestHandler):
    present: ClassVar[set[str]] = {"/cdn/photos/a%20b.jpg"}
    asked: ClassVar[list[str]] = []

    def do_HEAD(self) -> None:
        Cdn.asked.append(self.path)
        self.send_response(200 if self.path in self.present else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def cdn() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Cdn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Cdn.asked = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cdn"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_keys_that_answer_at_the_cdn_exist_and_only_a_bounded_number_is_asked(cdn) -> None:
    keys = ["photos/a b.jpg", "photos/c.jpg", *(f"more/{n}.jpg" for n in range(HEAD_LIMIT + 10))]
    assert existing_keys(cdn, keys) == {"photos/a b.jpg"}
    assert len(Cdn.asked) == HEAD_LIMIT


def test_an_unreachable_cdn_marks_nothing() -> None:
    assert existing_keys("http://127.0.0.1:9/cdn", ["a.jpg"]) == set()
    assert existing_keys("", ["a.jpg"]) == set()


def test_recent_uploads_and_the_cdn_base_come_from_the_history_of_the_same_api() -> None:
    history = [
        status(
            1, key="a b.jpg", state=UploadState.DONE, url="https://cdn.example/x/a%20b.jpg", finished_at=5.0
        ),
        status(2, key="c.jpg", state=UploadState.CANCELLED),
        status(3, key="d.jpg", state=UploadState.DONE, api_url="https://other.test/prod"),
    ]
    assert recently_uploaded(history, API) == {"a b.jpg": 5.0}
    assert cdn_base("", history, API) == "https://cdn.example/x"
    assert cdn_base("https://configured.example/", history, API) == "https://configured.example"
    assert cdn_base("", history, "https://third.test/prod") == ""
