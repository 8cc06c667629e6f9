"""Folders: many small files started and finished in batches, single PUTs, the journal in groups, and
every unfinished upload in reach (listed, taken over with a local file, aborted)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core import scheduler
from app.core.api import ApiClient
from app.core.api_records import ApiInfo
from app.core.concurrency import MAXIMUM, MINIMUM, START, ConcurrencyLimit
from app.core.errors import InvalidRequestError, NotThisApiError, UploadError
from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, UploadState
from backend.local import LocalStack
from tests.core.adding import add_one
from tests.core.conftest import fetch, request, wait_for
from tests.fault_proxy import Fault, FaultProxy, Seen

MakeManager = Callable[..., UploadManager]
MakeFile = Callable[[str, int], Path]
ENDED = {UploadState.DONE, UploadState.FAILED, UploadState.CONFLICT, UploadState.FILE_CHANGED}


def base_url(local: LocalStack) -> str:
    return local.api_url.rsplit("/prod", 1)[0]


class Calls:
    """Counts the calls of each of the API's routes."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def decide(self, seen: Seen) -> Fault:
        route = seen.path.rsplit("/", 1)[-1].split("?")[0]
        with self.lock:
            self.counts[route] += 1
        return Fault.PASS


def test_a_folder_goes_in_batches_of_single_puts(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    # finished files wait for a full batch however slow the machine (not 0.5 s), so the count is exact
    monkeypatch.setattr(scheduler, "FINISH_DELAY", 60.0)
    calls = Calls()
    with LocalStack(port=0) as local, FaultProxy(calls.decide, base_url(local)) as api:
        files = [make_file(f"folder/f{n:03}.txt", 1000 + n) for n in range(120)]
        manager = make_manager(journal, local.token, part_size=None, max_connections=None)
        result = manager.add_many([request(path, f"{api.url}/prod", f"folder/{path.name}") for path in files])
        assert not result.refused
        ids = [status.id for status in result.added]
        assert manager.wait(ids, timeout=120)
        statuses = [manager.status(upload_ref) for upload_ref in ids]
        assert all(s is not None and s.state is UploadState.DONE for s in statuses), statuses[:3]
        for status, path in list(zip(statuses, files, strict=True))[::17]:
            assert status is not None
            assert status.link_verified is True
            assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]
    per_file = calls.counts["initialize"] + calls.counts["finalize"] + calls.counts["getPreSignedUrls"]
    assert per_file <= 3, calls.counts  # the first file finds out the API's kind alone
    # 120 files at up to 50 per call: 3 of each at best (the starts go just ahead of need: 4 seen)
    assert calls.counts["initializeBatch"] <= 6, calls.counts
    assert calls.counts["finalizeBatch"] <= 4, calls.counts  # 3 seen; 4 if the last files look last early
    records = [journal.get(upload_ref) for upload_ref in ids]
    assert all(record is not None and record.single for record in records), "a one-part file goes as one PUT"


def test_on_the_existing_deployment_the_steps_of_different_files_overlap(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    release = threading.Event()

    with LocalStack(port=0, core_only=True) as local:
        initialize = local.routes["/initialize"]

        def slow_start(event: dict, context: object) -> dict:
            nonlocal running, most
            if "organizationId" not in (event.get("body") or ""):
                return initialize(event, context)
            with lock:
                running += 1
                most = max(most, running)
                if most >= 3:
                    release.set()
            release.wait(10)  # held until three starts run at once (or 10 s)
            try:
                return initialize(event, context)
            finally:
                with lock:
                    running -= 1

        local.routes["/initialize"] = slow_start
        files = [make_file(f"legacy/f{n}.bin", 2000) for n in range(6)]
        manager = make_manager(journal, local.token, max_connections=4)
        ids = [
            status.id
            for status in manager.add_many(
                [request(p, local.api_url, f"legacy/{p.name}") for p in files]
            ).added
        ]
        assert manager.wait(ids, timeout=120)
        assert all(manager.status(i).state is UploadState.DONE for i in ids)  # type: ignore[union-attr]
    assert most >= 3, "the starts of different files ran one after the other"


def test_adding_many_files_refuses_the_unreadable_ones_and_queues_the_others(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile, tmp_path: Path
) -> None:
    manager = make_manager(journal, "token")
    good = [make_file(f"many/{n}.txt", 10) for n in range(250)]
    requests = [request(path, "http://127.0.0.1:9/prod", f"many/{path.name}") for path in good]
    requests.insert(7, request(tmp_path / "nope.txt", "http://127.0.0.1:9/prod", "many/nope.txt"))
    requests.insert(9, request(good[0], "http://127.0.0.1:9/prod", "bad//key"))
    manager.pause_all()
    result = manager.add_many(requests)
    manager.pause_all()
    assert len(result.added) == 250
    assert [r.key for r, _error in result.refused] == ["many/nope.txt", "bad//key"]
    assert all(isinstance(error, InvalidRequestError) for _r, error in result.refused)
    assert [s.key for s in result.added] == [f"many/{p.name}" for p in good], "in the order given"
    assert len(journal.unfinished()) == 250


def test_unfinished_uploads_from_any_computer_are_listed_taken_over_and_aborted(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile, tmp_path: Path
) -> None:
    owner = stack.issue_token(principal="traveller", organization_id="local-org")
    path = make_file("elsewhere.bin", 18 * MIB)
    with Journal(tmp_path / "other-computer.sqlite3") as other_journal:
        other = make_manager(other_journal, owner, bandwidth_limit=8 * MIB, per_file_connections=1)
        upload_ref = add_one(other, request(path, stack.api_url, "remote/elsewhere.bin")).id
        deadline = time.monotonic() + 30
        while len(other_journal.parts(upload_ref)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        other.pause(upload_ref)
        file_id = other.status(upload_ref).upload_id  # type: ignore[union-attr]
        other.shutdown()

    here = make_manager(journal, owner)
    (listed,) = [u for u in here.remote_uploads(stack.api_url) if u.file_id == file_id]
    assert listed.key == "remote/elsewhere.bin"
    assert listed.size == 18 * MIB
    assert listed.parts_held is not None
    assert listed.parts_held >= 2
    assert listed.bytes_held == listed.parts_held * 5 * MIB
    assert listed.local_id is None, "this computer never saw it"

    other_file = make_file("not-it.bin", 18 * MIB)
    with pytest.raises(InvalidRequestError, match="differs"):
        here.adopt_remote(stack.api_url, file_id, other_file)
    status = here.adopt_remote(stack.api_url, file_id, path)
    done = wait_for(here, status.id, ENDED)
    assert done.state is UploadState.DONE, done.message
    assert done.upload_id == file_id, "the parts already sent were kept"
    assert fetch(done.url) == path.read_bytes()  # type: ignore[arg-type]

    with Journal(tmp_path / "slow-computer.sqlite3") as slow_journal:
        slow = make_manager(slow_journal, owner, bandwidth_limit=4 * MIB)  # cannot finish before the pause
        left = add_one(slow, request(make_file("left.bin", 12 * MIB), stack.api_url, "remote/left.bin"))
        wait_for(slow, left.id, {UploadState.UPLOADING})
        slow.pause(left.id)
        left_id = slow.status(left.id).upload_id  # type: ignore[union-attr]
        assert left_id in {u.file_id for u in slow.remote_uploads(stack.api_url)}
        slow.abort_remote(stack.api_url, left_id)  # type: ignore[arg-type]
        assert slow.status(left.id).state is UploadState.CANCELLED  # type: ignore[union-attr]
        assert left_id not in {u.file_id for u in slow.remote_uploads(stack.api_url)}
        slow.shutdown()


def test_the_existing_deployment_cannot_list_other_computers_uploads(
    journal: Journal, make_manager: MakeManager
) -> None:
    with LocalStack(port=0, core_only=True) as local:
        manager = make_manager(journal, local.token)
        with pytest.raises(NotThisApiError, match="this project's upload API"):
            manager.remote_uploads(local.api_url)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(
    limit: ConcurrencyLimit,
    clock: Clock,
    goodput: Callable[[int], float],
    intervals: int,
    *,
    burst: int = 0,
    connections: int = 0,
) -> list[int]:
    """Feed `limit` the goodput that `goodput(connections)` gives, in ticks of 50 ms; each connection
    opened beyond the `connections` open already first hands over `burst` bytes at once (its socket
    buffer filling). Returns the limit after each 0.5 s."""
    seen = []
    for _ in range(intervals):
        for _ in range(10):
            clock.now += 0.05
            opened, connections = max(0, limit.value - connections), limit.value
            limit.sent(int(goodput(limit.value) * 0.05) + opened * burst)
            limit.saturated()
            limit.update()
        seen.append(limit.value)
    return seen


def test_adaptive_connections_grow_while_it_pays_and_stop_where_the_server_is_the_ceiling() -> None:
    clock = Clock()
    per_connection = ConcurrencyLimit(None, clock=clock)  # a far region: each connection is capped
    assert per_connection.value == START
    seen = run(per_connection, clock, lambda n: n * 4 * MIB, 12)
    assert seen[-1] == MAXIMUM
    assert seen.index(MAXIMUM) <= 4, seen  # doubling while it pays

    clock = Clock()
    ceiling = ConcurrencyLimit(None, clock=clock)  # loopback: the server's speed is the limit
    seen = run(ceiling, clock, lambda n: 200 * MIB, 40)
    assert seen[-1] <= 2 * START, seen
    assert sum(1 for n in seen if n > 2 * START) <= len(seen) // 4, "probes upwards are taken back"
    assert min(seen) >= START, "it must not lose connections where more do not hurt"

    clock = Clock()
    hurting = ConcurrencyLimit(None, clock=clock)  # more connections make it slower
    seen = run(hurting, clock, lambda n: 200 * MIB if n <= START else 100 * MIB, 12)
    assert seen[2] == START, seen  # the doubling is taken back after one interval
    assert seen.count(START) >= len(seen) * 3 // 4, seen  # and each probe upwards too


def test_new_connections_filling_their_socket_buffers_do_not_read_as_goodput() -> None:
    """Each connection opened hands 4 MiB to its socket at once (as on loopback): where the server is
    the ceiling, that burst must not make each step up look as if it paid (it climbed to 36)."""
    clock = Clock()
    ceiling = ConcurrencyLimit(START, clock=clock)
    run(ceiling, clock, lambda n: 150 * MIB, 2)  # steady, with START connections open
    ceiling.fix(None)  # adaptive from there
    seen = run(ceiling, clock, lambda n: 150 * MIB, 40, burst=4 * MIB, connections=START)
    assert seen[-1] <= 2 * START, seen
    assert sum(1 for n in seen if n > 2 * START) <= len(seen) // 4, seen

    clock = Clock()
    per_connection = ConcurrencyLimit(None, clock=clock)  # a far region, with the same bursts
    seen = run(per_connection, clock, lambda n: n * 4 * MIB, 12, burst=4 * MIB)
    assert seen[-1] == MAXIMUM
    assert seen.index(MAXIMUM) <= 6, seen


def test_connections_grow_while_every_one_is_busy_with_a_long_send(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Far from the region each connection is slow (here 256 KiB per 100 ms: a part takes 2 s, longer
    than a decision), so more connections send more. A worker back from its part always finds its own
    connection free: the engine must see otherwise that more parts wait than connections (it stayed at
    16 of 64 connections, at two thirds of the speed)."""
    from app.core import worker

    real_send_part = worker.send_part
    lock = threading.Lock()
    sending = [0, 0]  # now, most at once

    def capped_send_part(*args: object, on_progress: Callable[[int], None], **kwargs: object) -> object:
        def paced(amount: int) -> None:
            time.sleep(0.1)
            on_progress(amount)

        with lock:
            sending[0] += 1
            sending[1] = max(sending)
        try:
            return real_send_part(*args, on_progress=paced, **kwargs)  # type: ignore[arg-type]
        finally:
            with lock:
                sending[0] -= 1

    monkeypatch.setattr(worker, "send_part", capped_send_part)
    with LocalStack(port=0) as local:
        files = [make_file(f"far/f{n:03}.bin", 1024 * 1024) for n in range(96)]
        manager = make_manager(
            journal, local.token, part_size=None, max_connections=None, per_file_connections=None
        )
        result = manager.add_many([request(path, local.api_url, f"far/{path.name}") for path in files])
        assert manager.wait([status.id for status in result.added], timeout=120)
    assert sending[1] >= 4 * START, f"at most {sending[1]} sends at once"


def test_throttling_cuts_the_connections_and_a_fixed_number_stays() -> None:
    clock = Clock()
    limit = ConcurrencyLimit(None, clock=clock)
    run(limit, clock, lambda n: n * MIB, 4)
    before = limit.value
    limit.congested()
    clock.now += 0.5
    limit.update()
    assert limit.value == max(MINIMUM, int(before * 0.7))
    fixed = ConcurrencyLimit(5, clock=clock)
    assert run(fixed, clock, lambda n: n * MIB, 5) == [5] * 5


def test_files_stop_being_started_while_their_finish_calls_fall_behind(
    journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    """Tiny files are sent faster than they are finished: the files waiting for a finish call count
    against the start window once FINISH_AHEAD of them wait, so the started ones stay a bounded number
    (every pick walks them) instead of growing to the whole folder."""
    from app.core.dispatcher import BATCH_FILES, FINISH_AHEAD, START_AHEAD

    count = 700
    files = [make_file(f"behind/f{n:03}.txt", 100) for n in range(count)]
    held, release = threading.Event(), threading.Event()
    with LocalStack(port=0) as local:
        finish = local.routes["/finalizeBatch"]

        def held_finish(event: dict, context: object) -> object:
            held.set()
            release.wait(60)
            return finish(event, context)

        local.routes["/finalizeBatch"] = held_finish
        manager = make_manager(journal, local.token, part_size=None, max_connections=2)
        try:
            ids = [
                s.id
                for s in manager.add_many(
                    [request(p, local.api_url, f"behind/{p.name}") for p in files]
                ).added
            ]
            assert held.wait(60)
            bound = 2 + START_AHEAD + FINISH_AHEAD + BATCH_FILES
            deadline = time.monotonic() + 5  # while the finish calls are held, starting must level off
            started = 0
            while time.monotonic() < deadline:
                started = sum(1 for s in map(manager.status, ids) if s is not None and s.upload_id)
                assert started <= bound, f"{started} files started while their finishes wait"
                time.sleep(0.2)
            assert started > FINISH_AHEAD  # it did start ahead, up to the bound
        finally:
            release.set()
        assert manager.wait(ids, timeout=120)
        assert {s.state for s in map(manager.status, ids) if s is not None} == {UploadState.DONE}


@pytest.mark.parametrize("server_finished", [True, False])
def test_single_puts_cut_short_by_a_crash_are_finished_by_the_next_engine(
    stack: LocalStack,
    journal: Journal,
    make_manager: MakeManager,
    make_file: MakeFile,
    monkeypatch: pytest.MonkeyPatch,
    server_finished: bool,
) -> None:
    """The process died after the single PUTs were sent and, with `server_finished`, after
    `/finalizeBatch` finished them, before the journal heard. The next engine's first step finds out
    the API's kind on its own, on one of these single PUTs."""
    folder = f"cut-{'finished' if server_finished else 'started'}"
    files = [make_file(f"{folder}/f{n}.txt", 700 + n) for n in range(4)]
    first = make_manager(journal, stack.token)
    with monkeypatch.context() as dying:  # what the journal never hears, as the process died first
        dying.setattr(Journal, "set_finished_many", lambda *_args, **_kwargs: None)
        if not server_finished:  # the files stay started on the server
            dying.setattr(ApiClient, "finalize_batch", _network_gone)
        added = first.add_many(
            [request(path, stack.api_url, f"{folder}/{path.name}") for path in files]
        ).added
        for status in added:
            wait_for(first, status.id, ENDED)
        first.shutdown()
    singles = [status.id for status in added if journal.get(status.id).single]  # type: ignore[union-attr]
    assert singles, "no file went as a single PUT"

    with Journal(journal.path) as again:
        second = make_manager(again, stack.token)
        second.restore()
        for upload_ref in singles:  # the first of them is the step that finds out the API's kind
            second.resume(upload_ref)
        for upload_ref, path in zip([status.id for status in added], files, strict=True):
            if upload_ref not in singles:
                continue
            status = wait_for(second, upload_ref, ENDED)
            assert status.state is UploadState.DONE, status.message
            assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]


def test_uploads_whose_start_the_journal_never_heard_of_start_again_as_the_same_kind(
    stack: LocalStack,
    journal: Journal,
    make_manager: MakeManager,
    make_file: MakeFile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process died after the API started the files, before the journal heard. Each file's
    idempotency key must ask for the same kind of upload in the next run, whichever of its steps asks:
    the API refuses a key that started a multipart upload for a single PUT, and back (it was a "conflict":
    the first engine's first file, the step that found out the API's kind, started as multipart)."""
    files = [make_file(f"unheard/f{n}.txt", 500 + n) for n in range(3)]
    first = make_manager(journal, stack.token)
    with monkeypatch.context() as dying:  # the starts are sent, the journal never hears of them
        _starts_unheard_and_never_finished(dying)
        added = first.add_many([request(path, stack.api_url, f"unheard/{path.name}") for path in files]).added
        for status in added:
            wait_for(first, status.id, ENDED)
        first.shutdown()
    ids = [status.id for status in added]
    assert all(journal.get(upload_ref).upload_id is None for upload_ref in ids)  # type: ignore[union-attr]

    with Journal(journal.path) as again:
        second = make_manager(again, stack.token)
        second.restore()
        later, *_ = ids  # the first engine's first step: here it comes after another file's
        for upload_ref in [*ids[1:], later]:
            second.resume(upload_ref)
            status = wait_for(second, upload_ref, ENDED)
            assert status.state is UploadState.DONE, status.message
        for upload_ref, path in zip(ids, files, strict=True):
            assert fetch(second.status(upload_ref).url) == path.read_bytes()  # type: ignore[arg-type, union-attr]


def test_a_key_that_started_another_kind_of_upload_starts_again_under_a_new_key(
    stack: LocalStack,
    journal: Journal,
    make_manager: MakeManager,
    make_file: MakeFile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run that started a file as multipart (an older version, or an API that offered no single PUT
    then) died before its journal heard; this run asks the same key for a single PUT. The API refuses it
    (`409 CLIENT_TOKEN_REUSED`); nothing is at the key, so it is no conflict: the file starts again."""
    path = make_file("reused/f.txt", 900)
    first = make_manager(journal, stack.token)
    with monkeypatch.context() as dying:
        _starts_unheard_and_never_finished(dying)
        dying.setattr(ApiInfo, "has", lambda info, name: name != "singlePut" and name in info.capabilities)
        upload_ref = add_one(first, request(path, stack.api_url, "reused/f.txt")).id
        wait_for(first, upload_ref, ENDED)
        first.shutdown()
    key_before = journal.get(upload_ref).idempotency_key  # type: ignore[union-attr]

    with Journal(journal.path) as again:
        second = make_manager(again, stack.token)
        second.restore()
        second.resume(upload_ref)
        status = wait_for(second, upload_ref, ENDED)
        assert status.state is UploadState.DONE, status.message
        assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]
        assert again.get(upload_ref).idempotency_key != key_before  # type: ignore[union-attr]


def _starts_unheard_and_never_finished(dying: pytest.MonkeyPatch) -> None:
    """A process that dies after the API started its files, before its journal heard, and before any
    file was finished."""
    for started in ("set_started", "set_started_many", "set_upload_id"):
        dying.setattr(Journal, started, lambda *_args, **_kwargs: None)
    dying.setattr(ApiClient, "finalize", _network_gone)
    dying.setattr(ApiClient, "finalize_batch", _network_gone)


def _network_gone(*_args: object, **_kwargs: object) -> None:
    raise UploadError("The network went away (test).")
