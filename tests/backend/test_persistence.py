"""The local stack's data folder: a stopped or killed (`kill -9`) stack started again has every upload,
part, object, link and token, on the same ports; a taken port or folder is said in a sentence."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from backend.local import LocalStack
from backend.local.datadir import DataDirError
from backend.local.stack import PortInUseError
from tests.backend.served import Served
from tests.backend.support import MIB, Api, Flows, free_port, seed_body


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def start_two_uploads(api: Api, flows: Flows) -> tuple[dict[str, Any], dict[str, Any], bytes, str]:
    """One finished upload, one with its first part sent and its second part's URL signed."""
    _, finished = flows.seed(api, "kept/done.bin", b"finished before the restart")
    started = api.ok("/initialize", seed_body("kept/partial.bin", fileSize=5 * MIB + 3))
    ids = {"fileId": started["fileId"], "fileKey": started["fileKey"]}
    first = os.urandom(5 * MIB)
    signed = api.ok("/getPreSignedUrls", {**ids, "partNumbers": [1, 2]})["parts"]
    sent = flows.put_parts(signed[:1], {1: first})
    return finished, {**ids, "parts": sent}, first, signed[1]["signedUrl"]


def test_a_restarted_stack_has_every_upload_part_link_and_token(tmp_path: Path, flows: Flows) -> None:
    folder = tmp_path / "data"
    with LocalStack(data_dir=folder, port=None) as stack:
        api = Api(stack.api_url, stack.token)
        finished, partial, first, second_url = start_two_uploads(api, flows)
        before = (stack.api_url, stack.token, stack.s3_endpoint)
        api.http.close()
    assert _mode(folder) == 0o700
    for name in ("stack.json", "tables.sqlite3", "s3/index.sqlite3"):
        assert _mode(folder / name) == 0o600, name

    with LocalStack(data_dir=folder, port=None) as again:
        assert (again.api_url, again.token, again.s3_endpoint) == before
        api = Api(again.api_url, again.token)
        assert api.http.get(finished["url"], timeout=30).content == b"finished before the restart"
        ids = {"fileId": partial["fileId"], "fileKey": partial["fileKey"]}
        listed = api.ok("/listParts", ids)["parts"]
        assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
            (1, partial["parts"][0]["ETag"], 5 * MIB)
        ]
        # a URL signed before the restart still works: same S3 port, same key pair
        answer = requests.put(second_url, data=b"end", timeout=30)
        assert answer.status_code == 200, answer.text
        done = api.ok(
            "/finalize",
            {**ids, "parts": [*partial["parts"], {"PartNumber": 2, "ETag": answer.headers["ETag"]}]},
        )
        assert api.http.get(done["url"], timeout=30).content == first + b"end"
        api.http.close()


def test_a_data_folder_serves_one_stack_at_a_time(tmp_path: Path) -> None:
    with LocalStack(data_dir=tmp_path / "data"), pytest.raises(DataDirError, match="already running"):
        LocalStack(data_dir=tmp_path / "data").start()


def test_a_taken_port_is_said_in_a_sentence(tmp_path: Path) -> None:
    with LocalStack(data_dir=tmp_path / "data") as stack:
        port = int(stack.api_url.split(":")[2].split("/")[0])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(PortInUseError) as refused:
            LocalStack(data_dir=tmp_path / "data", port=None).start()
    message = str(refused.value)
    assert f"127.0.0.1:{port}" in message
    assert "Links from before use that port" in message


def test_an_ephemeral_stack_leaves_nothing() -> None:
    with LocalStack() as stack:
        folder = stack.data_dir
        assert (folder / "tables.sqlite3").exists()
    assert not folder.exists()


def kill_mid_part(served: Served, url: str, size: int) -> None:
    """Send the first half of a part's body, then kill -9 the server while it reads the rest."""
    target = url.removeprefix("http://")
    hostport, _, path = target.partition("/")
    host, port = hostport.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"PUT /{path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: {size}\r\n\r\n".encode())
        sock.sendall(os.urandom(size // 2))
        served.process.kill()  # SIGKILL
        assert served.exit_code() != 0


@pytest.mark.slow
def test_kill_9_mid_upload_then_restart_on_the_same_folder(tmp_path: Path, flows: Flows) -> None:
    folder, port = tmp_path / "data", free_port()
    served = Served("--data-dir", str(folder), "--port", str(port))
    try:
        api_url, token = served.printed("API URL"), served.printed("Token")
        api = Api(api_url, token)
        finished, partial, first, second_url = start_two_uploads(api, flows)
        third = api.ok("/initialize", seed_body("kept/third.bin"))
        third_url = api.ok("/getPreSignedUrls", {**third, "partNumbers": [1]})["parts"][0]["signedUrl"]
        kill_mid_part(served, third_url, 8 * MIB)
        api.http.close()
    finally:
        served.close()

    again = Served("--data-dir", str(folder))  # no --port: the one it used last time
    try:
        assert again.printed("API URL") == api_url
        assert again.printed("Token") == token
        api = Api(api_url, token)
        assert api.http.get(finished["url"], timeout=30).content == b"finished before the restart"
        ids = {"fileId": partial["fileId"], "fileKey": partial["fileKey"]}
        assert [p["PartNumber"] for p in api.ok("/listParts", ids)["parts"]] == [1]
        assert api.ok("/listParts", {"fileId": third["fileId"], "fileKey": third["fileKey"]}) == {"parts": []}
        answer = requests.put(second_url, data=b"end", timeout=30)
        assert answer.status_code == 200, answer.text
        parts = [*partial["parts"], {"PartNumber": 2, "ETag": answer.headers["ETag"]}]
        done = api.ok("/finalize", {**ids, "parts": parts})
        assert api.http.get(done["url"], timeout=30).content == first + b"end"
        api.http.close()
        assert not list((folder / "s3" / "tmp").iterdir())  # the half-received part was cleaned up
    finally:
        again.close()


def test_serve_says_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        served = Served("--data-dir", str(tmp_path / "data"), "--port", str(port))
        try:
            assert served.exit_code() == 1
        finally:
            served.close()
    assert f"cannot listen on 127.0.0.1:{port}" in "".join(served.errors)
    assert "Traceback" not in "".join(served.errors)


def test_64_concurrent_calls_without_an_error(stack: LocalStack) -> None:
    """64 clients start, sign, send and finish their own files at once, as a folder upload does."""
    barrier = threading.Barrier(64)
    failures: list[str] = []

    def client(index: int) -> None:
        with requests.Session() as http:
            headers = {"Authorization": stack.token}
            try:
                barrier.wait(30)
                started = http.post(
                    f"{stack.api_url}/initialize",
                    json=seed_body(f"many/{index}.bin"),
                    headers=headers,
                    timeout=60,
                )
                ids = {"fileId": started.json()["fileId"], "fileKey": started.json()["fileKey"]}
                signed = http.post(
                    f"{stack.api_url}/getPreSignedUrls", json={**ids, "parts": 1}, headers=headers, timeout=60
                ).json()["parts"][0]["signedUrl"]
                etag = http.put(signed, data=f"file {index}".encode(), timeout=60).headers["ETag"]
                done = http.post(
                    f"{stack.api_url}/finalize",
                    json={**ids, "parts": [{"PartNumber": 1, "ETag": etag}]},
                    headers=headers,
                    timeout=60,
                )
                assert done.status_code == 200, done.text
                assert http.get(done.json()["url"], timeout=60).content == f"file {index}".encode()
            except Exception as exc:
                failures.append(f"client {index}: {exc!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
