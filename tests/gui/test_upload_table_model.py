from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt

from app.core.models import UploadState, UploadStatus
from app.gui.formatting import human_duration, human_size, human_speed
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
            ),
        ]
    )
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    assert model.index(0, Column.NAME).data() == "file-1.bin"
    row = [model.index(1, column).data() for column in Column]
    assert row == ["file-2.bin", "100 MB", "50 %", "2.0 MB/s", "25 s", "Uploading", ""]
    assert model.index(1, 0).data(ID_ROLE) == 2
    assert model.index(1, Column.PROGRESS).data(FRACTION_ROLE) == 0.5
    assert model.index(1, Column.PROGRESS).data(Qt.ItemDataRole.ToolTipRole) == "5 of 10 parts"
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


def test_done_rows_show_their_link_and_a_forgotten_row_stays_gone() -> None:
    model = UploadTableModel()
    model.update_statuses([status(1), status(2)])
    model.update_statuses(
        [status(1, state=UploadState.DONE, bytes_done=100 * 1024 * 1024, url="https://cdn/x")]
    )
    assert model.index(0, Column.LINK).data() == "https://cdn/x"
    assert model.index(0, Column.PROGRESS).data() == "100 %"
    model.forget(2)
    model.update_statuses([status(2, state=UploadState.CANCELLED)])  # a late event after removal
    assert model.rowCount() == 1


def test_totals_sum_the_unfinished_uploads() -> None:
    model = UploadTableModel()
    mib = 1024 * 1024
    model.update_statuses(
        [
            status(1, state=UploadState.UPLOADING, bytes_done=40 * mib, speed=10 * mib),
            status(2, state=UploadState.UPLOADING, bytes_done=60 * mib, speed=10 * mib),
            status(3, state=UploadState.DONE, bytes_done=100 * mib),
        ]
    )
    totals = model.totals()
    assert (totals.files, totals.active) == (3, 2)
    assert (totals.size, totals.done) == (200 * mib, 100 * mib)
    assert totals.speed == 20 * mib
    assert totals.eta == 5.0


def test_human_texts() -> None:
    assert human_size(0) == "0 bytes"
    assert human_size(1) == "1 byte"
    assert human_size(1536) == "1.5 KB"
    assert human_size(5 * 1024**4) == "5.0 TB"
    assert human_speed(0) == ""
    assert human_speed(3 * 1024 * 1024) == "3.0 MB/s"
    assert human_duration(None) == ""
    assert human_duration(59.4) == "59 s"
    assert human_duration(200) == "3 min 20 s"
    assert human_duration(3 * 3600 + 5 * 60) == "3 h 05 min"
