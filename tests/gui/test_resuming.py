"""What goes on by itself after a start or an engine restart, and what the status bar says."""

from __future__ import annotations

from app.core.models import UploadState
from app.gui.commands import Action, PauseAll, ResumeAll, for_uploads
from app.gui.resuming import PausedByUser, plan_resumption, running_when_engine_died
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


def test_an_upload_the_user_paused_is_not_resumed_after_an_engine_death() -> None:
    shown = [status(1, state=UploadState.UPLOADING), status(2, state=UploadState.UPLOADING)]
    restored = [status(1, state=PAUSED), status(2, state=PAUSED), status(3, state=PAUSED)]
    paused = PausedByUser()

    paused.note(for_uploads(Action.PAUSE, [1, 2]), active=lambda: [])
    paused.note(for_uploads(Action.RESUME, [2]), active=lambda: [])
    assert running_when_engine_died(shown, restored, [], paused.ids) == {2, 3}

    paused.note(PauseAll(), active=lambda: [2, 3])
    assert paused.ids == {1, 2, 3}
    assert running_when_engine_died(shown, restored, [], paused.ids) == set()

    paused.note(for_uploads(Action.CANCEL, [1]), active=lambda: [])
    paused.note(ResumeAll(), active=lambda: [])
    assert paused.ids == set()
