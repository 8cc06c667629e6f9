"""What goes on by itself after a start or an engine restart, and what the status bar says."""

from __future__ import annotations

from app.core.models import UploadState
from app.gui.resuming import plan_resumption, running_when_engine_died
from tests.gui.test_upload_table_model import status

PAUSED = UploadState.PAUSED


def test_at_start_those_running_at_quit_resume_and_the_others_wait_with_a_notice() -> None:
    restored = [status(1, state=PAUSED), status(2, state=PAUSED), status(3, state=UploadState.FILE_CHANGED)]

    plan = plan_resumption(restored, {1}, after_crash=False)

    assert plan.resuming == [1]
    assert plan.noticed == {2}
    assert plan.message == "1 unfinished upload from last time, paused. Choose Resume All to continue."


def test_after_an_engine_death_only_the_resumed_ones_are_spoken_of() -> None:
    restored = [status(1, state=PAUSED), status(2, state=PAUSED), status(3, state=PAUSED)]

    plan = plan_resumption(restored, {1, 3}, after_crash=True)

    assert plan.resuming == [1, 3]
    assert plan.noticed == set()
    assert (
        plan.message == "Continuing 2 uploads that were running when the upload engine stopped unexpectedly."
    )
    assert plan.message_ms == 15000


def test_the_running_the_unlisted_and_the_kept_resume_after_an_engine_death() -> None:
    shown = [
        status(1, state=UploadState.UPLOADING),
        status(2, state=PAUSED),
        status(3, state=UploadState.DONE),
    ]
    restored = [status(1, state=PAUSED), status(2, state=PAUSED), status(4, state=PAUSED)]

    assert running_when_engine_died(shown, restored, kept=[5]) == {1, 4, 5}
