"""`s3up` end to end against the existing deployment as API Gateway answers it (`LocalStack(core_only=True)`:
core routes only, only `/initialize` behind the authorizer, 3 s functions, a 300 s authorizer cache)."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.models import MIB
from backend.local import LocalStack
from tests.cli.support import METADATA, make_file, one_sentence, run_cli, upload_stopped_by_ctrl_c
from tests.core.conftest import fetch

UNREACHABLE = "cannot be reached"
REFUSED_TOKEN = "rejected the token"
PAUSED = "s3up: Stopped by Ctrl-C; what was started is paused, and `s3up resume --all` continues it."


class FakeClock:
    """The gateway's clock, moved by the test (the authorizer cache's TTL)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def existing(clock: FakeClock) -> Iterator[LocalStack]:
    with LocalStack(port=0, core_only=True, clock=clock) as local:
        yield local


def upload(stack: LocalStack, path: Path, *extra: str, token: str | None = None) -> list[str]:
    """`s3up upload` there, with the metadata it needs and the CDN base URL its links need."""
    return [
        "upload", str(path), "--api", stack.api_url, "--token", token or stack.token, "--metadata", METADATA,
        "--cdn-base-url", stack.cdn_base_url, *extra,
    ]  # fmt: skip


def paused_upload(stack: LocalStack, home: Path, path: Path, key: str) -> None:
    """A 40 MiB upload with a part on S3, stopped by Ctrl-C, which says so in one sentence."""
    args = upload(stack, path, "--key", key)[2:]  # without "upload PATH"
    out, err = upload_stopped_by_ctrl_c(home, path, *args)
    assert err.strip() == PAUSED
    assert out == ""


@pytest.mark.parametrize("function_timeout", [None, 3.0], ids=["default-timeout", "explicit-3s"])
def test_a_40_mib_file_uploads_and_its_link_serves_identical_bytes(
    existing: LocalStack, home: Path, tmp_path: Path, function_timeout: float | None
) -> None:
    path = make_file(tmp_path, "forty.bin", 40 * MIB)
    key = f"existing/forty-{function_timeout}.bin"
    with contextlib.ExitStack() as started:
        target = existing
        if function_timeout is not None:
            target = started.enter_context(
                LocalStack(port=0, core_only=True, function_timeout=function_timeout)
            )
        result = run_cli(home, *upload(target, path, "--key", key, "--json"))
        assert result.returncode == 0, result.stderr
        (record,) = [json.loads(line) for line in result.stdout.splitlines()]
        assert record["status"] == "done"
        assert record["linkVerified"] is True
        assert record["url"] == f"{target.cdn_base_url}/{key}"
        assert fetch(record["url"]) == path.read_bytes()


def test_the_cdn_base_url_is_remembered_with_its_api(
    existing: LocalStack, home: Path, tmp_path: Path
) -> None:
    first, second = make_file(tmp_path, "first.bin", 10), make_file(tmp_path, "second.bin", 10)
    given = run_cli(home, *upload(existing, first, "--key", "existing/cdn-first.bin", "--json"))
    assert given.returncode == 0, given.stderr
    base = ["--api", existing.api_url, "--token", existing.token, "--metadata", METADATA, "--json"]
    remembered = run_cli(home, "upload", str(second), "--key", "existing/cdn-second.bin", *base)
    assert remembered.returncode == 0, remembered.stderr
    assert "pass --cdn-base-url" not in remembered.stderr
    (record,) = [json.loads(line) for line in remembered.stdout.splitlines()]
    assert record["url"] == f"{existing.cdn_base_url}/existing/cdn-second.bin"
    assert fetch(record["url"]) == second.read_bytes()
    with LocalStack(port=0, core_only=True) as other:  # another API: the CDN stays with its own
        elsewhere = ["--api", other.api_url, "--token", other.token, "--metadata", METADATA]
        result = run_cli(home, "upload", str(second), "--key", "elsewhere.bin", *elsewhere)
        assert result.returncode == 0, result.stderr
        assert "pass --cdn-base-url to get them" in result.stderr


def test_ctrl_c_mid_upload_then_resume_all_finishes_it(
    existing: LocalStack, home: Path, tmp_path: Path
) -> None:
    path = make_file(tmp_path, "interrupted.bin", 40 * MIB)
    paused_upload(existing, home, path, "existing/interrupted.bin")
    resumed = run_cli(home, "resume", "--all", "--json", "--token", existing.token)
    assert resumed.returncode == 0, resumed.stderr
    (record,) = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert record["status"] == "done"
    assert record["url"] == f"{existing.cdn_base_url}/existing/interrupted.bin"
    assert fetch(record["url"]) == path.read_bytes()


def test_abort_cancels_here_and_says_the_parts_stay_until_the_clean_up_rule(
    existing: LocalStack, home: Path, tmp_path: Path
) -> None:
    path = make_file(tmp_path, "dropped.bin", 40 * MIB)
    paused_upload(existing, home, path, "existing/dropped.bin")
    (row,) = [line for line in run_cli(home, "list").stdout.splitlines() if "dropped.bin" in line]
    upload_ref = row.split()[0]
    aborted = run_cli(home, "abort", upload_ref, "--token", existing.token)
    assert aborted.returncode == 0, aborted.stderr
    line = aborted.stdout.strip()
    assert line.startswith(f"Upload {upload_ref} cancelled here. The existing deployment cannot delete")
    assert (
        "MiB already sent stay in its bucket until the bucket's clean-up rule for unfinished uploads" in line
    )
    assert "could not be deleted now" not in line  # no retry would help: the route does not exist
    assert "token" not in aborted.stdout + aborted.stderr  # the missing route is not a refused token
    assert "dropped.bin" not in run_cli(home, "list").stdout
    # It is true: the multipart upload and its parts are still in the bucket.
    (held,) = [
        upload
        for upload in existing.s3.list_multipart_uploads(Bucket=existing.bucket).get("Uploads", [])
        if upload["Key"] == "existing/dropped.bin"
    ]
    parts = existing.s3.list_parts(Bucket=existing.bucket, Key=held["Key"], UploadId=held["UploadId"])
    assert parts["Parts"]


def test_a_token_the_gateway_cached_keeps_working_for_the_cache_ttl(
    existing: LocalStack, clock: FakeClock, home: Path, tmp_path: Path
) -> None:
    token = existing.issue_token("carol", "org-7")

    def send(name: str) -> subprocess.CompletedProcess[str]:
        path = make_file(tmp_path, name, 100)
        return run_cli(home, *upload(existing, path, "--key", f"existing/{name}", token=token))

    first = send("one.bin")
    assert first.returncode == 0, first.stderr
    existing.revoke_token(token, flush_cache=False)
    clock.now += 299  # within API Gateway's 300 s: its cached Allow still answers
    cached = send("two.bin")
    assert cached.returncode == 0, cached.stderr
    clock.now += 2  # the cache has expired: the authorizer is asked, and throws for a revoked token
    refused = send("three.bin")
    assert refused.returncode == 1
    assert "needs_sign_in three.bin" in refused.stdout
    assert f"{REFUSED_TOKEN}. Sign in again with a valid token." in refused.stdout
    assert UNREACHABLE not in refused.stdout + refused.stderr


def test_a_token_the_authorizer_denies_is_told_as_access_refused(
    existing: LocalStack, home: Path, tmp_path: Path
) -> None:
    token = existing.issue_token("dave", "org-7")
    existing.deny_token(token)
    path = make_file(tmp_path, "denied.bin", 100)
    denied = run_cli(home, *upload(existing, path, "--key", "existing/denied.bin", token=token))
    assert denied.returncode == 1
    assert "failed    denied.bin" in denied.stdout
    assert "The upload API's access policy refused this request" in denied.stdout
    output = denied.stdout + denied.stderr
    assert UNREACHABLE not in output
    assert REFUSED_TOKEN not in output
    assert "Check the API URL" not in output
    # Routes the existing deployment lacks, asked with that token, read as missing routes, not refusals.
    (row,) = [line for line in run_cli(home, "list").stdout.splitlines() if "denied.bin" in line]
    aborted = run_cli(home, "abort", row.split()[0], "--token", token)
    assert aborted.returncode == 0, aborted.stderr
    assert aborted.stdout == f"Upload {row.split()[0]} cancelled; no part of it had been sent.\n"
    listed = run_cli(home, "list", "--remote", "--api", existing.api_url, "--token", token)
    assert listed.returncode == 2
    assert "needs this project's upload API" in listed.stderr
    assert "refused" not in listed.stderr


@pytest.mark.parametrize("command", [["list", "--remote"], ["resume", "--remote", "abcdefgh"],
                                     ["abort", "--remote", "abcdefgh"]])  # fmt: skip
def test_the_uploads_on_the_server_need_this_projects_api(
    existing: LocalStack, home: Path, command: list[str]
) -> None:
    result = run_cli(home, *command, "--api", existing.api_url, "--token", existing.token)
    assert result.returncode == 2
    assert f"needs this project's upload API; {existing.api_url} is the existing deployment" in result.stderr
    assert one_sentence(result.stderr)


def test_login_recognises_the_existing_deployment_and_says_what_it_cannot_check(
    existing: LocalStack, home: Path, tmp_path: Path
) -> None:
    keyring = {
        "PYTHON_KEYRING_BACKEND": "tests.file_keyring.FileKeyring",
        "S3UP_TEST_KEYRING": str(tmp_path / "k"),
    }
    wrong = "not-the-deployments-token"
    login = run_cli(home, "login", "--api", existing.api_url, stdin=wrong + "\n", **keyring)
    assert login.returncode == 0, login.stderr
    text = " ".join(login.stdout.split())
    assert f"Signed in to {existing.api_url}: the existing deployment (its core routes only)." in text
    assert "the token itself could not be checked" in text
    assert "the first upload will" in text
    assert '"organizationId" and "objectRecordId"' in text
    assert "--cdn-base-url" in text
    assert "Listing or aborting unfinished uploads on the server needs this project's API" in text
    assert wrong not in login.stdout + login.stderr
    # ... and the first upload does check it.
    path = make_file(tmp_path, "after-login.bin", 100)
    metadata = ["--metadata", METADATA, "--cdn-base-url", existing.cdn_base_url]
    result = run_cli(home, "upload", str(path), *metadata, **keyring)  # the API and token from login
    assert result.returncode == 1
    assert REFUSED_TOKEN in result.stdout
    wrong_stage = run_cli(
        home, "login", "--api", existing.api_url + "x", stdin=existing.token + "\n", **keyring
    )
    assert wrong_stage.returncode == 2
    assert "Check the API URL" in wrong_stage.stderr
