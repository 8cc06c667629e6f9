"""Two processes (the app and a command) on one journal: only the one holding an upload's lock sends it."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core import dispatcher as dispatcher_module
from app.core import ownership
from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, UploadState
from app.core.ownership import BusyElsewhereError, UploadLocks
from backend.local import LocalStack
from tests.core.adding import add_one
from tests.core.conftest import fetch, request, wait_for, wait_for_parts

MakeManager = Callable[..., UploadManager]
MakeFile = Callable[[str, int], Path]
STOPPED = {UploadState.DONE, UploadState.FAILED, UploadState.CANCELLED}
ROOT = Path(__file__).resolve().parents[2]
shared_file_only = pytest.mark.skipif(
    not ownership._SharedFile.usable(), reason="open-file-description locks are Linux's"
)


def peek(locks: UploadLocks, upload_ref: int) -> BusyElsewhereError | None:
    """Whether another holder has the lock (taking it for a moment when it is free)."""
    if locks.holds(upload_ref):
        return None
    try:
        locks.acquire(upload_ref)
    except BusyElsewhereError as busy:
        return busy
    locks.release(upload_ref)
    return None


def owner_seen_from_outside(folder: Path, upload_ref: int) -> int | None:
    """The owner's process id as another process would read it (None when nobody holds the lock)."""
    outsider = UploadLocks(folder)
    try:
        busy = peek(outsider, upload_ref)
        return None if busy is None else busy.owner_pid
    finally:
        outsider.release_all()


@pytest.fixture(params=["shared file", "file per upload"])
def store_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of keeping the locks: one shared file (Linux) and a file per upload (elsewhere)."""
    if request.param == "file per upload":
        monkeypatch.setattr(ownership._SharedFile, "usable", staticmethod(lambda: False))
    elif not ownership._SharedFile.usable():
        pytest.skip("open-file-description locks are Linux's")
    return str(request.param)


def test_a_lock_held_elsewhere_names_its_process(tmp_path: Path, store_kind: str) -> None:
    ours, theirs = UploadLocks(tmp_path), UploadLocks(tmp_path)  # two open files conflict like two processes
    theirs.acquire(7)
    with pytest.raises(BusyElsewhereError) as raised:
        ours.acquire(7)
    assert raised.value.owner_pid == os.getpid()
    assert f"process {os.getpid()}" in raised.value.message
    assert peek(ours, 7) is not None
    ours.acquire(8)  # other uploads are free
    theirs.release(7)
    assert peek(ours, 7) is None
    assert not ours.holds(7), "looking must not take the lock"
    ours.acquire(7)
    ours.acquire(7)  # taking it again is a no-op
    assert ours.holds(7)
    ours.release_all()
    theirs.acquire(7)
    theirs.release_all()


@contextlib.contextmanager
def held_by_another_process(
    folder: Path, upload_ref: int, *, older_s3up: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """A process that holds the upload's lock until it is killed (`older_s3up`: with a lock file per
    upload on Linux too, as s3up did before the shared file)."""
    older = "ownership._SharedFile.usable = staticmethod(lambda: False)" if older_s3up else ""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                from pathlib import Path
                from app.core import ownership
                {older}
                ownership.UploadLocks(Path({str(folder)!r})).acquire({upload_ref})
                print("locked", flush=True)
                time.sleep(60)
                """
            ),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait(10)


def killed(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def test_a_killed_owner_leaves_no_lock_behind(tmp_path: Path) -> None:
    with held_by_another_process(tmp_path, 3) as holder:
        busy = peek(UploadLocks(tmp_path), 3)
        assert busy is not None
        assert busy.owner_pid == holder.pid
        killed(holder)
        assert peek(UploadLocks(tmp_path), 3) is None


def test_a_folder_of_uploads_takes_one_file_on_linux_and_a_file_each_elsewhere(
    tmp_path: Path, store_kind: str
) -> None:
    """Creating a file costs 0.7-0.8 ms of CPU on some disks: 10,000 lock files were most of the time it
    took to add a folder of 10,000 files there."""
    ours, theirs = UploadLocks(tmp_path), UploadLocks(tmp_path)
    for upload_ref in range(1, 201):
        (ours if upload_ref % 2 else theirs).acquire(upload_ref)
    names = {path.name for path in tmp_path.iterdir()}
    if store_kind == "shared file":
        assert names == {"uploads.lock"}
    else:
        assert len(names) == 200
    for upload_ref in range(1, 201):  # interleaved holders: each one's ranges stay its own
        holder, other = (ours, theirs) if upload_ref % 2 else (theirs, ours)
        assert holder.holds(upload_ref)
        assert peek(other, upload_ref) is not None
    for upload_ref in range(1, 201, 2):
        ours.release(upload_ref, finished=True)
    if store_kind == "file per upload":
        assert len(list(tmp_path.iterdir())) == 100, "a finished upload's lock file is deleted"
    for upload_ref in range(1, 201, 2):
        assert peek(theirs, upload_ref) is None
        assert theirs.holds(upload_ref + 1)
    ours.release_all()
    theirs.release_all()
    assert all(owner_seen_from_outside(tmp_path, upload_ref) is None for upload_ref in range(1, 201))


@shared_file_only
def test_an_older_s3up_holding_its_lock_file_keeps_the_upload_and_its_leftover_file_goes(
    tmp_path: Path,
) -> None:
    """Before the shared file, s3up locked `upload-N.lock` on Linux too; an older s3up may still run."""
    with held_by_another_process(tmp_path, 5, older_s3up=True) as older:
        ours, theirs = UploadLocks(tmp_path), UploadLocks(tmp_path)
        with pytest.raises(BusyElsewhereError) as raised:
            ours.acquire(5)
        assert raised.value.owner_pid == older.pid
        ours.acquire(6)  # other uploads are free
        killed(older)
        assert (tmp_path / "upload-5.lock").exists(), "the older process left its lock file"
        theirs.acquire(5)  # ours let go of the range it had taken for a moment
        assert not (tmp_path / "upload-5.lock").exists(), "a leftover lock file goes"
        assert peek(ours, 5) is not None
        ours.release_all()
        theirs.release_all()


@shared_file_only
def test_an_older_lock_file_that_cannot_be_locked_leaves_the_range_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "upload-9.lock").write_text("4242")

    def no_locks_left(_fd: int) -> bool:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(ownership, "_try_lock", no_locks_left)
    ours = UploadLocks(tmp_path)
    ours.acquire(9)  # goes on without the lock, as for any lock the system cannot take
    assert not ours.holds(9)
    monkeypatch.undo()
    outsider = UploadLocks(tmp_path)
    assert peek(outsider, 9) is None, "the range stayed taken"
    outsider.release_all()
    ours.release_all()


@shared_file_only
def test_a_file_system_without_open_file_description_locks_gets_a_lock_file_per_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fcntl = ownership.fcntl.fcntl

    def without_ofd_locks(fd: int, command: int, *args: object) -> object:
        if command in (ownership.fcntl.F_OFD_GETLK, ownership.fcntl.F_OFD_SETLK):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fcntl(fd, command, *args)

    monkeypatch.setattr(ownership.fcntl, "fcntl", without_ofd_locks)
    ours, theirs = UploadLocks(tmp_path), UploadLocks(tmp_path)
    ours.acquire(4)
    busy = peek(theirs, 4)
    assert busy is not None
    assert busy.owner_pid == os.getpid()
    assert (tmp_path / "upload-4.lock").exists()
    ours.release_all()
    assert peek(theirs, 4) is None
    theirs.release_all()


def test_a_second_manager_does_not_touch_an_upload_the_first_is_sending(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    path = make_file("shared.bin", 20 * MIB)
    sender = make_manager(journal, stack.token, bandwidth_limit=8 * MIB)
    upload_ref = add_one(sender, request(path, stack.api_url, "ownership/shared.bin")).id
    wait_for_parts(journal, upload_ref, 1)
    lock_folder = journal.path.parent / "journal-locks"
    assert owner_seen_from_outside(lock_folder, upload_ref) == os.getpid()

    with Journal(journal.path) as other_journal:
        other = make_manager(other_journal, stack.token)
        (seen,) = [s for s in other.restore() if s.id == upload_ref]
        assert seen.state is UploadState.PAUSED
        assert seen.sent_elsewhere
        assert "being sent by another s3up process" in (seen.message or "")
        with pytest.raises(BusyElsewhereError):
            other.resume(upload_ref)
        with pytest.raises(BusyElsewhereError):
            other.cancel(upload_ref)
        other.resume_all()  # skips it quietly
        assert other.status(upload_ref).state is UploadState.PAUSED  # type: ignore[union-attr]
        assert journal.get(upload_ref).state in (UploadState.UPLOADING, UploadState.QUEUED)  # type: ignore[union-attr]

        wait_for_parts(journal, upload_ref, seen.parts_done + 1)  # more than the other one has seen

        sender.pause(upload_ref)  # the app pauses it: the command may take it over once it is idle
        resume_when_free(other, upload_ref)
        assert not sender._core.locks.holds(upload_ref)
        with sender._core.lock:
            assert not sender._core.uploads[upload_ref].in_flight, "the lock went while parts were in flight"
        sent_by_first = set(journal.parts(upload_ref))
        taken_over = other.status(upload_ref)
        assert taken_over is not None
        assert not taken_over.sent_elsewhere
        assert taken_over.message is None
        assert taken_over.parts_done >= len(sent_by_first) > seen.parts_done, "parts would be sent twice"
        status = wait_for(other, upload_ref, STOPPED)
        assert status.state is UploadState.DONE, status.message
        assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]

        assert not other._core.locks.holds(upload_ref), "a finished upload keeps no lock"
        assert not list(lock_folder.glob("upload-*.lock")), "no lock file stays for a finished upload"
        assert peek(sender._core.locks, upload_ref) is None


def resume_when_free(manager: UploadManager, upload_ref: int) -> None:
    """Resume as soon as the other manager has let the upload go (it finishes its step or part first)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            manager.resume(upload_ref)
            return
        except BusyElsewhereError:
            assert time.monotonic() < deadline, "the other manager kept the lock"
            time.sleep(0.05)


def test_resuming_an_upload_another_process_finished_adopts_its_result(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    path = make_file("finished-elsewhere.bin", 6 * MIB)
    first = make_manager(journal, stack.token)
    upload_ref = add_one(first, request(path, stack.api_url, "ownership/finished-elsewhere.bin")).id
    first.pause(upload_ref)
    with Journal(journal.path) as other_journal:
        other = make_manager(other_journal, stack.token)
        other.restore()
        resume_when_free(other, upload_ref)
        done = wait_for(other, upload_ref, STOPPED)
        assert done.state is UploadState.DONE, done.message
    first.resume(upload_ref)  # the journal says it is done: nothing is sent again
    status = first.status(upload_ref)
    assert status is not None
    assert status.state is UploadState.DONE
    assert status.url == done.url
    assert not first._core.locks.holds(upload_ref)


@pytest.fixture
def idle_manager(
    journal: Journal, make_manager: MakeManager, monkeypatch: pytest.MonkeyPatch
) -> UploadManager:
    """A manager whose workers never take a job, so that a test decides what is in flight."""
    monkeypatch.setattr(dispatcher_module, "pick_job", lambda *_args: (None, None))
    return make_manager(journal, "token")


def test_the_lock_stays_while_a_part_or_a_step_is_still_running(
    idle_manager: UploadManager, make_file: MakeFile
) -> None:
    manager = idle_manager
    upload_ref = add_one(manager, request(make_file("running.bin", MIB), "http://127.0.0.1:9/prod", "k")).id
    core = manager._core
    upload = core.uploads[upload_ref]
    assert core.locks.holds(upload_ref)
    for running in ("part", "step"):
        with core.lock:
            if running == "part":
                upload.in_flight[1] = 0
            else:
                upload.busy = True
        manager.pause(upload_ref)
        assert core.locks.holds(upload_ref), f"paused while a {running} still runs: the lock stays"
        with core.lock:  # what the dispatcher does when a part or a step ends
            upload.in_flight.clear()
            upload.busy = False
            core.release_if_idle(upload)
        assert not core.locks.holds(upload_ref)
        manager.resume(upload_ref)
        assert core.locks.holds(upload_ref)


def test_retrying_a_changed_file_keeps_no_lock(idle_manager: UploadManager, make_file: MakeFile) -> None:
    manager = idle_manager
    path = make_file("changing.bin", MIB)
    upload_ref = add_one(manager, request(path, "http://127.0.0.1:9/prod", "k")).id
    manager.pause(upload_ref)
    path.write_bytes(b"changed")
    for _ in range(2):
        manager.resume(upload_ref)
        assert manager.status(upload_ref).state is UploadState.FILE_CHANGED  # type: ignore[union-attr]
        assert not manager._core.locks.holds(upload_ref)


def test_a_new_upload_is_locked_before_another_process_can_see_it(
    journal: Journal, make_file: MakeFile
) -> None:
    seen_by_others: list[object] = []
    with Journal(journal.path) as other:
        record = journal.create_upload(
            api_url="http://127.0.0.1:9/prod",
            path=make_file("new.bin", 10),
            size=10,
            mtime_ns=1,
            fingerprint="f",
            key="k",
            metadata={},
            content_type=None,
            part_size=0,
            claim=lambda upload_ref: seen_by_others.append(other.get(upload_ref)),
        )
        assert seen_by_others == [None]
        assert other.get(record.id) is not None


def test_resolving_a_conflict_another_process_finished_meanwhile_keeps_its_result(
    stack: LocalStack, journal: Journal, make_manager: MakeManager, make_file: MakeFile
) -> None:
    taken = make_file("taken-first.bin", 1000)
    first = make_manager(journal, stack.token)
    assert wait_for(first, add_one(first, request(taken, stack.api_url, "ownership/taken.bin")).id, STOPPED)
    path = make_file("resolved-elsewhere.bin", 6 * MIB)
    upload_ref = add_one(first, request(path, stack.api_url, "ownership/taken.bin")).id
    assert wait_for(first, upload_ref, STOPPED | {UploadState.CONFLICT}).state is UploadState.CONFLICT
    with Journal(journal.path) as other_journal:
        other = make_manager(other_journal, stack.token)
        other.restore()
        other.resolve_conflict(upload_ref, overwrite=True)
        done = wait_for(other, upload_ref, STOPPED)
        assert done.state is UploadState.DONE, done.message
    first.resolve_conflict(upload_ref, new_key="ownership/renamed.bin")  # chosen in a window left open
    status = first.status(upload_ref)
    assert status is not None
    assert (status.state, status.key, status.url) == (UploadState.DONE, "ownership/taken.bin", done.url)
    assert fetch(done.url) == path.read_bytes()  # type: ignore[arg-type]
    listed = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="ownership/renamed").get("Contents", [])
    assert listed == []
    assert not first._core.locks.holds(upload_ref)
