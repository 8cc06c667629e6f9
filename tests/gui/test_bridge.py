from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.core.engine_process import STOPPED_WHILE_BUSY, EngineStoppedError
from app.core.errors import AuthError
from app.core.models import AddResult, UploadRequest, UploadState, UploadStatus
from app.gui.bridge import UploadBridge
from app.gui.commands import Action, PauseAll, for_uploads
from tests.gui.fakes import FakeManager


def make_status(upload_id: int, done: int) -> UploadStatus:
    return UploadStatus(
        id=upload_id,
        path=Path(f"/f{upload_id}"),
        key="k",
        api_url="https://a/prod",
        size=1000,
        bytes_done=done,
        state=UploadState.UPLOADING,
    )


@pytest.fixture
def bridge(qtbot, fake_manager: FakeManager):
    bridge = UploadBridge(fake_manager, flush_interval_ms=100)
    yield bridge
    bridge.shutdown()


def test_statuses_from_worker_threads_arrive_coalesced_in_the_gui_thread(qtbot, bridge, fake_manager) -> None:
    batches: list[list[UploadStatus]] = []
    gui_thread = threading.current_thread()
    seen_threads: set[threading.Thread] = set()

    def record(batch: list[UploadStatus]) -> None:
        seen_threads.add(threading.current_thread())
        batches.append(batch)

    bridge.statuses_changed.connect(record)

    def pump(upload_id: int) -> None:
        for done in range(1, 501):
            fake_manager.push(make_status(upload_id, done))

    workers = [threading.Thread(target=pump, args=(i,)) for i in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    qtbot.waitUntil(
        lambda: (
            any(s.bytes_done == 500 for b in batches for s in b if s.id == 1)
            and any(s.bytes_done == 500 for b in batches for s in b if s.id == 2)
        ),
        timeout=3000,
    )
    assert seen_threads == {gui_thread}
    assert len(batches) <= 5  # 1,000 events, a handful of repaints
    assert all(len({s.id for s in batch}) == len(batch) for batch in batches)  # one snapshot per upload


def test_results_and_errors_come_back_to_the_gui_thread(qtbot, bridge) -> None:
    results: list[object] = []
    errors: list[str] = []
    bridge.submit(lambda: threading.current_thread().name, on_result=results.append)
    qtbot.waitUntil(lambda: bool(results), timeout=3000)
    assert str(results[0]).startswith("s3up-gui-io")

    def reject() -> None:
        raise AuthError("The token was rejected; sign in again.")

    bridge.submit(reject, on_error=lambda error: errors.append(error.message))
    qtbot.waitUntil(lambda: bool(errors), timeout=3000)
    assert errors == ["The token was rejected; sign in again."]

    reported: list[str] = []
    bridge.error_occurred.connect(reported.append)
    bridge.submit(lambda: 1 / 0)
    qtbot.waitUntil(lambda: bool(reported), timeout=3000)
    assert "log file" in reported[0]


def test_commands_run_in_order_off_the_gui_thread(qtbot, bridge, fake_manager, tmp_path) -> None:
    file = tmp_path / "a.bin"
    file.write_bytes(b"x" * 10)
    outcomes = []
    bridge.add_many(
        lambda: [UploadRequest(path=file, api_url="https://a/prod", key="a.bin")], outcomes.append
    )
    qtbot.waitUntil(lambda: bool(outcomes), timeout=3000)
    upload_id = outcomes[0].added[0].id
    bridge.send(for_uploads(Action.PAUSE, [upload_id]))
    bridge.send(for_uploads(Action.RESUME, [upload_id]))
    bridge.send(PauseAll())
    qtbot.waitUntil(lambda: len(fake_manager.calls) == 4, timeout=3000)
    assert [name for name, _ in fake_manager.calls] == ["add_many", "pause", "resume", "pause_all"]


def test_nothing_is_delivered_after_shutdown(qtbot, fake_manager) -> None:
    bridge = UploadBridge(fake_manager)
    received: list[object] = []
    bridge.statuses_changed.connect(received.append)
    bridge.shutdown()
    assert fake_manager._subscribers == []  # unsubscribed
    bridge._on_status(make_status(1, 1))  # a callback already under way when shutdown began
    qtbot.wait(150)
    assert received == []


def test_one_refused_upload_does_not_stop_the_others_in_a_command(
    qtbot, bridge, fake_manager, monkeypatch
) -> None:
    from app.core.ownership import BusyElsewhereError

    def resume(upload_id: int) -> None:
        fake_manager.calls.append(("resume", upload_id))
        if upload_id == 1:
            raise BusyElsewhereError(1, 4242)

    monkeypatch.setattr(fake_manager, "resume", resume)
    errors: list[str] = []
    bridge.error_occurred.connect(errors.append)
    bridge.send(for_uploads(Action.RESUME, [1, 2, 3]))
    qtbot.waitUntil(lambda: bool(errors), timeout=3000)
    assert fake_manager.calls == [("resume", 1), ("resume", 2), ("resume", 3)]
    assert errors == [BusyElsewhereError(1, 4242).message]


def test_a_long_add_does_not_hold_up_pause_all(qtbot, bridge, fake_manager, tmp_path, monkeypatch) -> None:
    release = threading.Event()
    real_add_many = fake_manager.add_many

    def slow_add_many(requests: list[UploadRequest]) -> AddResult:
        release.wait(10)  # a folder of thousands of files being added
        return real_add_many(requests)

    monkeypatch.setattr(fake_manager, "add_many", slow_add_many)
    file = tmp_path / "a.bin"
    file.write_bytes(b"x")
    outcomes = []
    bridge.add_many(
        lambda: [UploadRequest(path=file, api_url="https://a/prod", key="a.bin")], outcomes.append
    )
    bridge.send(PauseAll())
    qtbot.waitUntil(lambda: ("pause_all", None) in fake_manager.calls, timeout=3000)
    assert not outcomes  # still adding
    release.set()
    qtbot.waitUntil(lambda: bool(outcomes), timeout=3000)
    assert outcomes[0].last


def test_a_large_folder_is_added_in_chunks_through_add_many(qtbot, bridge, fake_manager, tmp_path) -> None:
    """One `UploadManager.add_many` per chunk (the manager records each in a few journal transactions),
    one report per chunk, the last one marked; a refused file is reported and the others still start."""
    file = tmp_path / "a.bin"
    file.write_bytes(b"x")
    refused_file = tmp_path / "refused.bin"
    refused_file.write_bytes(b"x")
    fake_manager.refuse.add("refused.bin")
    requests = [UploadRequest(path=file, api_url="https://a/prod", key=f"k/{n}") for n in range(2499)]
    requests.insert(1200, UploadRequest(path=refused_file, api_url="https://a/prod", key="k/refused"))
    outcomes = []
    bridge.add_many(lambda: requests, outcomes.append, chunk=1000)
    qtbot.waitUntil(lambda: bool(outcomes) and outcomes[-1].last, timeout=10000)
    assert fake_manager.calls == [("add_many", 1000), ("add_many", 1000), ("add_many", 500)]
    assert [outcome.last for outcome in outcomes] == [False, False, True]
    assert sum(len(outcome.added) for outcome in outcomes) == 2499
    assert [request.key for outcome in outcomes for request, _error in outcome.refused] == ["k/refused"]
    assert [s.key for outcome in outcomes for s in outcome.added][1199:1201] == ["k/1199", "k/1200"]


def scripted_add_many(fake_manager: FakeManager, monkeypatch, *steps) -> list[list[str]]:
    """`add_many`'s calls follow `steps`, one per call: None adds as the fake does, a step(requests) plays
    a dying engine. Returns the keys of each call."""
    calls: list[list[str]] = []

    def add_many(requests: list[UploadRequest]) -> AddResult:
        calls.append([request.key for request in requests])
        step = steps[len(calls) - 1] if len(calls) <= len(steps) else None
        return FakeManager.add_many(fake_manager, requests) if step is None else step(requests)

    monkeypatch.setattr(fake_manager, "add_many", add_many)
    return calls


def dies(fake_manager: FakeManager, *, recording: int, engine: int, then):
    """A step: engine number `engine` records the first `recording` requests and dies; `then(restored)`
    runs 0.2 s later on another thread, as `EngineProcess` tells of a new engine (or of none)."""

    def step(requests: list[UploadRequest]) -> AddResult:
        kept = FakeManager.add_many(fake_manager, requests[:recording]).added
        restored = [replace(status, state=UploadState.PAUSED, created_at=time.time()) for status in kept]
        threading.Timer(0.2, then, args=(restored,)).start()
        raise EngineStoppedError(STOPPED_WHILE_BUSY, engine=engine)

    return step


def files_to_add(tmp_path: Path, count: int) -> list[UploadRequest]:
    requests = []
    for n in range(count):
        file = tmp_path / f"f{n}.bin"
        file.write_bytes(b"x")
        requests.append(UploadRequest(path=file, api_url="https://a/prod", key=f"k/{n}"))
    return requests


def test_an_add_the_engines_death_cuts_short_goes_on_with_the_new_engine(
    qtbot, bridge, fake_manager, tmp_path, monkeypatch
) -> None:
    requests = files_to_add(tmp_path, 5)
    old = replace(
        make_status(99, 0), path=requests[0].path, key="k/0", state=UploadState.PAUSED, created_at=1.0
    )
    restart = lambda restored: bridge.report_engine_restarted([old, *restored])  # noqa: E731
    calls = scripted_add_many(
        fake_manager, monkeypatch, dies(fake_manager, recording=2, engine=0, then=restart)
    )
    outcomes = []

    with qtbot.waitSignal(bridge.engine_restarted, timeout=3000):
        bridge.add_many(lambda: requests, outcomes.append, chunk=3)
    qtbot.waitUntil(lambda: bool(outcomes) and outcomes[-1].last, timeout=3000)

    assert calls == [["k/0", "k/1", "k/2"], ["k/2"], ["k/3", "k/4"]]
    added = [status for outcome in outcomes for status in outcome.added]
    assert [status.key for status in added] == ["k/0", "k/1", "k/2", "k/3", "k/4"]
    assert 99 not in {status.id for status in added}  # an older upload of the same file and key
    assert [status.state for status in added[:2]] == [UploadState.PAUSED] * 2  # the window resumes them
    assert not any(outcome.refused for outcome in outcomes)


def test_a_second_death_right_after_a_restart_adds_no_file_twice(
    qtbot, bridge, fake_manager, tmp_path, monkeypatch
) -> None:
    """The first engine died between two chunks; the next call waited for the new engine, which records
    one file and dies too. The bridge read its count of restarts before the call waited."""
    requests = files_to_add(tmp_path, 4)
    second_death = dies(fake_manager, recording=1, engine=1, then=bridge.report_engine_restarted)

    def after_a_restart(chunk: list[UploadRequest]) -> AddResult:
        bridge.report_engine_restarted([])  # told before the call reaches the new engine
        return second_death(chunk)

    calls = scripted_add_many(fake_manager, monkeypatch, None, after_a_restart)
    outcomes = []

    bridge.add_many(lambda: requests, outcomes.append, chunk=2)
    qtbot.waitUntil(lambda: bool(outcomes) and outcomes[-1].last, timeout=3000)

    assert calls == [["k/0", "k/1"], ["k/2", "k/3"], ["k/3"]]
    assert [status.key for outcome in outcomes for status in outcome.added] == ["k/0", "k/1", "k/2", "k/3"]


def stays_stopped(bridge: UploadBridge) -> Callable[[Any], None]:
    """What a dying engine does next when it is not started again: the bridge hears it stopped."""
    return lambda _restored: bridge.report_engine_stopped(EngineStoppedError())


def test_files_not_added_when_the_engine_stays_stopped_are_reported(
    qtbot, bridge, fake_manager, tmp_path, monkeypatch
) -> None:
    requests = files_to_add(tmp_path, 4)
    calls = scripted_add_many(
        fake_manager, monkeypatch, dies(fake_manager, recording=1, engine=0, then=stays_stopped(bridge))
    )
    outcomes = []

    bridge.add_many(lambda: requests, outcomes.append, chunk=2)
    qtbot.waitUntil(lambda: bool(outcomes), timeout=3000)

    assert len(calls) == 1
    [outcome] = outcomes
    assert outcome.last
    assert not outcome.added  # what the dead engine recorded comes back at the next start
    assert [request.key for request, _error in outcome.refused] == ["k/0", "k/1", "k/2", "k/3"]
    assert "several times in a row" in outcome.refused[0][1].message


def test_files_a_new_engine_restored_stay_added_when_the_next_one_never_comes(
    qtbot, bridge, fake_manager, tmp_path, monkeypatch
) -> None:
    requests = files_to_add(tmp_path, 4)
    calls = scripted_add_many(
        fake_manager,
        monkeypatch,
        dies(fake_manager, recording=1, engine=0, then=bridge.report_engine_restarted),
        dies(fake_manager, recording=0, engine=1, then=stays_stopped(bridge)),
    )
    outcomes = []

    bridge.add_many(lambda: requests, outcomes.append, chunk=2)
    qtbot.waitUntil(lambda: bool(outcomes), timeout=3000)

    assert calls == [["k/0", "k/1"], ["k/1"]]
    [outcome] = outcomes
    assert outcome.last
    assert [status.key for status in outcome.added] == ["k/0"]  # listed and resumed by the window
    assert [request.key for request, _error in outcome.refused] == ["k/1", "k/2", "k/3"]
