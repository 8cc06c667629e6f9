from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt

from app.core.models import UploadState, UploadStatus
from app.gui.formatting import human_duration, human_size, human_speed, percent_text, sentences
from app.gui.upload_table_model import FRACTION_ROLE, ID_ROLE, STATUS_ROLE, Column, UploadTableModel


def status(upload_id: int, **changes: object) -> UploadStatus:
    base = UploadStatus(
        id=upload_id,
        path=Path(f"/data/file-{upload_id}.bin"),
        key=f"file-{upload_id}.bin",
        api_url="https://api.example.test/prod",
        size=100 * 1024 * 1024,
        bytes_done=0,
        state=UploadState.QUEUED,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_rows_are_added_in_order_and_show_each_column(qtmodeltester) -> None:
    model = UploadTableModel()
    model.update_statuses(
        [
            status(1),
            status(
                2,
                bytes_done=50 * 1024 * 1024,
                state=UploadState.UPLOADING,
                speed=2 * 1024 * 1024,
                eta=25.0,
                parts_done=5,
                parts_total=10,
                created_at=time.time(),
            ),
        ]
    )
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    assert model.index(0, Column.NAME).data() == "file-1.bin"
    row = [model.index(1, column).data() for column in Column]
    added = time.strftime("%H:%M", time.localtime(model.status_at(1).created_at))
    assert row == [
        "file-2.bin",
        "file-2.bin",
        "100 MiB",
        "50 %",
        "2.0 MiB/s",
        "25 s",
        "Uploading",
        added,
        "https://api.example.test/prod",
        "",
    ]
    assert model.index(1, 0).data(ID_ROLE) == 2
    assert model.index(1, Column.PROGRESS).data(FRACTION_ROLE) == 0.5
    assert model.index(1, Column.PROGRESS).data(Qt.ItemDataRole.ToolTipRole) == "5 of 10 parts sent"
    assert "API: https://api.example.test/prod" in model.index(1, Column.NAME).data(
        Qt.ItemDataRole.ToolTipRole
    )
    assert isinstance(model.index(1, 0).data(STATUS_ROLE), UploadStatus)


def test_an_update_repaints_only_its_own_row(qtbot) -> None:
    model = UploadTableModel()
    model.update_statuses([status(1), status(2), status(3)])
    changes: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda top, bottom: changes.append((top.row(), bottom.row())))
    model.update_statuses([status(2, bytes_done=10, state=UploadState.UPLOADING)])
    model.update_statuses([status(3)])  # unchanged: no signal
    assert changes == [(1, 1)]  # one row; its cells from Progress to Status
    assert model.rowCount() == 3


def test_a_batch_of_updates_is_one_signal_over_the_rows_it_changed(qtbot) -> None:
    """Each signal is a call into Qt, which may wait for the interpreter lock: one per batch."""
    model = UploadTableModel()
    model.update_statuses([status(number) for number in range(1, 6)])
    changes: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(
        lambda top, bottom: changes.append((top.row(), bottom.row(), top.column(), bottom.column()))
    )
    model.update_statuses(
        [
            status(2, bytes_done=10, state=UploadState.UPLOADING),
            status(3),  # unchanged
            status(4, bytes_done=20, state=UploadState.UPLOADING),
        ]
    )
    assert len(changes) == 1
    top, bottom, left, right = changes[0]
    assert (top, bottom) == (1, 3)
    assert left <= Column.PROGRESS
    assert right >= Column.STATE
    assert model.index(3, Column.PROGRESS).data(FRACTION_ROLE) == 20 / status(4).size


def test_done_rows_show_their_link_and_forgotten_rows_stay_gone() -> None:
    model = UploadTableModel()
    model.update_statuses([status(1), status(2), status(3), status(4)])
    model.update_statuses(
        [status(1, state=UploadState.DONE, bytes_done=100 * 1024 * 1024, url="https://cdn/x")]
    )
    assert model.index(0, Column.LINK).data() == "https://cdn/x"
    assert model.index(0, Column.PROGRESS).data() == "100 %"
    model.forget([2, 4])
    assert [model.status_at(r).id for r in range(model.rowCount())] == [1, 3]
    model.update_statuses([status(2, state=UploadState.CANCELLED)])  # a late event after removal
    assert model.rowCount() == 2
    assert model.row_of(3) == 1


def test_progress_never_goes_back_when_a_pause_drops_the_parts_in_flight() -> None:
    """The engine forgets the bytes of parts in flight when paused: the row keeps its high-water mark
    until real progress passes it; only parts really lost (a restart) lower it."""
    mib = 1024 * 1024
    model = UploadTableModel()
    model.update_statuses([status(1, state=UploadState.UPLOADING, bytes_done=22 * mib, parts_done=2)])
    model.update_statuses([status(1, state=UploadState.PAUSED, bytes_done=16 * mib, parts_done=2)])
    assert model.index(0, Column.PROGRESS).data() == "22 %"
    model.update_statuses([status(1, state=UploadState.UPLOADING, bytes_done=20 * mib, parts_done=2)])
    assert model.status_at(0).bytes_done == 22 * mib
    model.update_statuses([status(1, state=UploadState.UPLOADING, bytes_done=30 * mib, parts_done=3)])
    assert model.index(0, Column.PROGRESS).data() == "30 %"
    model.update_statuses([status(1, state=UploadState.UPLOADING, bytes_done=0, parts_done=0)])  # restarted
    assert model.index(0, Column.PROGRESS).data() == "0 %"


def test_row_and_details_percentages_are_the_same_rounding_down() -> None:
    from app.gui.status_text import describe

    model = UploadTableModel()
    almost = status(1, state=UploadState.UPLOADING, bytes_done=int(100 * 1024 * 1024 * 0.2199))
    model.update_statuses([almost])
    assert model.index(0, Column.PROGRESS).data() == "21 %"
    assert describe(model.status_at(0)).startswith("Uploading — 21 % of 100 MiB")
    assert percent_text(0.999) == "99 %"
    assert percent_text(1.0) == "100 %"


def test_a_deleted_file_reads_file_missing_without_a_bar() -> None:
    model = UploadTableModel()
    missing = status(
        1,
        state=UploadState.FILE_MISSING,
        bytes_done=100 * 1024 * 1024,
        message="The file no longer exists at /data/file-1.bin; put it back or remove this upload.",
    )
    changed = status(2, state=UploadState.FILE_CHANGED, message="The file /data/file-2.bin was modified.")
    model.update_statuses([missing, changed])
    assert model.index(0, Column.STATE).data() == "File missing"
    assert model.index(1, Column.STATE).data() == "File changed"
    for row in (0, 1):
        assert model.index(row, Column.PROGRESS).data() == ""
        assert model.index(row, Column.PROGRESS).data(FRACTION_ROLE) is None  # no bar is drawn


def test_clicking_a_header_sorts_and_new_rows_take_their_place(qtbot) -> None:
    model = UploadTableModel()
    model.update_statuses([status(1, size=30), status(2, size=10), status(3, size=20)])
    model.sort(Column.SIZE, Qt.SortOrder.AscendingOrder)
    assert [model.status_at(r).id for r in range(3)] == [2, 3, 1]
    model.update_statuses([status(4, size=15)])
    assert [model.status_at(r).id for r in range(4)] == [2, 4, 3, 1]
    model.sort(Column.ADDED, Qt.SortOrder.DescendingOrder)
    assert [model.status_at(r).id for r in range(4)] == [4, 3, 2, 1]
    model.sort(Column.PROGRESS, Qt.SortOrder.DescendingOrder)
    model.update_statuses([status(1, size=30, bytes_done=15, state=UploadState.UPLOADING)])
    assert model.status_at(0).id == 1  # sorted by a moving column: re-sorted as it moves


def test_summary_counts_uploads_and_sums_bytes_of_the_unfinished_ones() -> None:
    model = UploadTableModel()
    mib = 1024 * 1024
    model.update_statuses(
        [
            status(1, state=UploadState.UPLOADING, bytes_done=40 * mib, speed=10 * mib),
            status(2, state=UploadState.UPLOADING, bytes_done=60 * mib, speed=10 * mib),
            status(3, state=UploadState.DONE, bytes_done=100 * mib),
            status(4, state=UploadState.PAUSED, bytes_done=0),
            status(5, state=UploadState.FAILED, bytes_done=0),
        ]
    )
    summary = model.summary()
    assert (summary.total, summary.active, summary.paused, summary.attention, summary.done) == (5, 2, 1, 1, 1)
    assert (summary.size, summary.sent) == (400 * mib, 100 * mib)
    assert summary.speed == 20 * mib
    assert summary.eta == 5.0
    from app.gui.status_text import summary_text

    assert summary_text(summary) == (
        "2 uploading, 1 paused, 1 needs attention, 1 done  ·  100 MiB of 400 MiB sent  ·  20.0 MiB/s"
        "  ·  5 s left"
    )


def test_human_texts() -> None:
    assert human_size(0) == "0 bytes"
    assert human_size(1) == "1 byte"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(100 * 1024 * 1024) == "100 MiB"
    assert human_size(5 * 1024**4) == "5.0 TiB"
    assert human_speed(0) == ""
    assert human_speed(3 * 1024 * 1024) == "3.0 MiB/s"
    assert human_duration(None) == ""
    assert human_duration(59.4) == "59 s"
    assert human_duration(200) == "3 min 20 s"
    assert human_duration(3 * 3600 + 5 * 60) == "3 h 05 min"
    assert sentences('choose another key or send "overwrite": true', "Choose Retry") == (
        'choose another key or send "overwrite": true. Choose Retry.'
    )


def test_the_summary_kept_up_to_date_matches_a_recount() -> None:
    """The status bar's sums are kept row by row (10,000 rows are not re-read per update): after any mix
    of inserts, updates and removals they equal a count from scratch."""
    import random

    from app.gui.upload_table_model import _Tally

    rng = random.Random(14)
    model = UploadTableModel()
    states = list(UploadState)
    for step in range(600):
        upload_id = rng.randrange(1, 60)
        if step % 50 == 49:
            model.forget([upload_id])
            continue
        model.update_statuses(
            [
                status(
                    upload_id,
                    state=rng.choice(states),
                    bytes_done=rng.randrange(0, 120) * 1024 * 1024,
                    parts_done=rng.randrange(0, 5),
                    speed=float(rng.randrange(0, 5)),
                )
            ]
        )
    recount = _Tally()
    for row in range(model.rowCount()):
        recount.count(model.status_at(row), 1)
    assert model.summary() == recount.summary()


def test_a_view_reads_every_role_of_a_cell_in_one_call(qtbot) -> None:
    from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

    model = UploadTableModel()
    model.update_statuses([status(1, state=UploadState.FAILED, size=1536, message="It failed.")])
    option = QStyleOptionViewItem()
    QStyledItemDelegate().initStyleOption(option, model.index(0, Column.SIZE))  # reads through multiData
    assert option.text == "1.5 KiB"
    assert option.displayAlignment & Qt.AlignmentFlag.AlignRight
    state = QStyleOptionViewItem()
    QStyledItemDelegate().initStyleOption(state, model.index(0, Column.STATE))
    assert state.text == "Failed"
    assert state.palette.color(state.palette.ColorRole.Text).name() == "#d03a3a"  # the attention colour


def test_the_details_say_when_parts_sent_before_are_checked_and_when_they_expire() -> None:
    from app.gui.status_text import advice, describe

    checking = status(1, state=UploadState.UPLOADING, bytes_done=1, parts_to_check=12, parts_checked=5)
    assert "checking the parts sent before: 5 of 12" in describe(checking)
    warned = status(
        2, state=UploadState.PAUSED, expiry_warning="The parts sent are deleted tomorrow at 14:00"
    )
    assert advice(warned) == (
        "Choose Resume to continue where it stopped. The parts sent are deleted tomorrow at 14:00."
    )


def test_the_row_shows_the_check_of_a_resumed_upload_and_the_parts_expiry() -> None:
    """Issue 11 items 3 and 7 in the row itself, not only in the details pane."""
    from app.gui.status_text import WARNING_COLOR

    model = UploadTableModel()
    now = time.time()
    checking = status(1, state=UploadState.UPLOADING, bytes_done=1, parts_to_check=40, parts_checked=12)
    soon = status(
        2,
        state=UploadState.PAUSED,
        parts_done=3,
        parts_expire_at=now + 3 * 3600,
        expiry_warning="The server deletes the parts sent so far on …, unless the upload finishes before.",
    )
    gone = replace(soon, id=3, parts_expire_at=now - 60, expiry_warning="The parts were probably deleted.")
    kept = status(4, state=UploadState.PAUSED, parts_done=3, parts_expire_at=now + 5 * 86400)
    model.update_statuses([checking, soon, gone, kept])

    def cell(row: int, role: Qt.ItemDataRole = Qt.ItemDataRole.DisplayRole) -> object:
        return model.index(row, Column.STATE).data(role)

    assert cell(0) == "Checking 12 of 40 parts…"
    assert cell(0, Qt.ItemDataRole.ToolTipRole).startswith(
        "Checking the parts sent before against the file: 12 of 40."
    )
    assert cell(1).startswith("Paused · expires ")
    assert cell(1, Qt.ItemDataRole.ForegroundRole) == WARNING_COLOR
    assert "The server deletes the parts sent so far" in cell(1, Qt.ItemDataRole.ToolTipRole)
    assert cell(2) == "Paused · parts expired"
    assert cell(3) == "Paused"  # days left: no warning in the row
    assert cell(3, Qt.ItemDataRole.ForegroundRole) is None
    assert "The server keeps the parts sent so far until" in cell(3, Qt.ItemDataRole.ToolTipRole)
    model.update_statuses([replace(checking, parts_checked=40)])
    assert cell(0) == "Uploading"


def test_a_restart_from_the_first_part_shows_the_engines_sentence_in_the_row() -> None:
    model = UploadTableModel()
    said = (
        "The server no longer had the parts sent before (unfinished uploads are deleted after a few days, or "
        "it was cancelled elsewhere), so the file is sent again from its first part."
    )
    model.update_statuses([status(1, state=UploadState.UPLOADING, bytes_done=10, message=said)])
    assert model.index(0, Column.STATE).data(Qt.ItemDataRole.ToolTipRole) == said
