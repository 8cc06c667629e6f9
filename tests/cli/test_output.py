"""What the CLI prints: a steady live line, true advice, a list with a header (in process)."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from app.cli.output import LIST_HEADER, ProgressPrinter, list_line, live_text, result_line
from app.core.models import GIB, MIB, UploadState, UploadStatus

BASE = UploadStatus(
    id=7,
    path=Path("/data/big.bin"),
    key="k/big.bin",
    api_url="https://api.example/prod",
    size=3 * GIB,
    bytes_done=0,
    state=UploadState.UPLOADING,
    created_at=1_700_000_000.0,
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("files", [1, 12])
def test_the_live_line_keeps_its_width_whatever_the_numbers(files: int) -> None:
    widths = set()
    for done, speed, state in [
        (0, 0.0, UploadState.QUEUED),
        (0, 0.0, UploadState.UPLOADING),
        (1, 1.0, UploadState.UPLOADING),
        (1023, 1000.0, UploadState.UPLOADING),
        (5 * MIB, 999.9 * MIB, UploadState.UPLOADING),
        (GIB + 7, 1023.9 * MIB, UploadState.UPLOADING),
        (3 * GIB - 1, 3.0, UploadState.UPLOADING),
        (0, 3.0, UploadState.UPLOADING),  # ETA of years
        (3 * GIB, 0.0, UploadState.FINALIZING),
        (3 * GIB, 0.0, UploadState.DONE),
    ]:
        statuses = [replace(BASE, id=i, bytes_done=done, speed=speed, state=state) for i in range(files)]
        widths.add(len(live_text(statuses)))
    assert len(widths) == 1, widths


def test_percent_and_eta_stay_honest_at_the_edges() -> None:
    almost = live_text([replace(BASE, bytes_done=BASE.size - 1, speed=1.0)])
    assert "  99.9%" in almost
    assert "100.0%" in live_text([replace(BASE, bytes_done=BASE.size, state=UploadState.FINALIZING)])
    assert "ETA >99 h" in live_text([replace(BASE, speed=3.0)])
    assert "ETA 1:00:00" in live_text([replace(BASE, speed=BASE.size / 3600)])


def test_finishing_replaces_a_zero_speed_and_an_unknown_eta() -> None:
    statuses = [
        replace(BASE, bytes_done=BASE.size, state=UploadState.FINALIZING),
        replace(BASE, id=8, bytes_done=BASE.size, state=UploadState.DONE),
    ]
    text = live_text(statuses)
    assert "finishing…" in text
    assert "bytes/s" not in text
    assert "ETA" not in text
    assert "files 1/2" in text
    starting = live_text([replace(BASE, state=UploadState.QUEUED)])
    assert "starting…" in starting
    assert "ETA --:--" not in starting


def test_the_speed_is_never_shown_above_the_bandwidth_limit() -> None:
    early = [replace(BASE, bytes_done=MIB, speed=2.0 * MIB)]  # a first chunk counted over half a second
    assert " 1 MiB/s" in live_text(early, bandwidth_limit=1.0 * MIB)
    assert " 2 MiB/s" in live_text(early)
    assert " 512 KiB/s" in live_text([replace(BASE, speed=512 * 1024)], bandwidth_limit=1.0 * MIB)


def test_sizes_are_binary_and_labelled_so() -> None:
    text = live_text([replace(BASE, bytes_done=1536 * 1024, speed=1536 * 1024)])
    assert "   1.5 MiB of      3 GiB" in text
    assert "1.5 MiB/s" in text
    assert " MB" not in text
    assert "3 GiB" in list_line(BASE)


def test_the_printer_draws_on_a_terminal_and_clears_its_line() -> None:
    err, out = Terminal(), io.StringIO()
    printer = ProgressPrinter(as_json=False, out=out, err=err)
    printer.watch([7])
    printer.update(replace(BASE, bytes_done=GIB, speed=MIB))
    printer.draw()
    assert err.getvalue().startswith("\r[###")
    printer.update(replace(BASE, bytes_done=BASE.size, state=UploadState.DONE, url="https://cdn/k/big.bin"))
    assert printer.news.is_set()
    printer.report_finished()
    assert not printer.news.is_set()
    assert err.getvalue().endswith("\r\033[K")
    assert out.getvalue() == "done      big.bin -> https://cdn/k/big.bin\n"


@pytest.mark.parametrize(
    ("state", "extra", "advice"),
    [
        (UploadState.PAUSED, {}, "`s3up resume 7` continues it."),
        (
            UploadState.FAILED,
            {"message": "The upload API failed (HTTP 500)."},
            "`s3up resume 7` continues it.",
        ),
        (UploadState.NEEDS_SIGN_IN, {}, "Sign in again (`s3up login`), then `s3up resume 7` continues it."),
        (UploadState.FILE_CHANGED, {}, "Upload the file again as a new upload; `s3up abort 7` deletes"),
        (UploadState.PAUSED, {"sent_elsewhere": True}, "Another s3up process is sending it."),
    ],
)
def test_each_unfinished_file_says_what_will_work(
    state: UploadState, extra: dict[str, object], advice: str
) -> None:
    line = result_line(replace(BASE, state=state, **extra))  # type: ignore[arg-type]
    assert line.startswith(f"{state.value:<9} big.bin [upload 7]: ")
    assert advice in line
    assert "tried again" not in line


def test_a_reason_without_a_full_stop_does_not_run_into_the_advice() -> None:
    line = result_line(replace(BASE, state=UploadState.FAILED, message='The server said: send "x": true'))
    assert line.endswith('The server said: send "x": true. `s3up resume 7` continues it.')


def test_list_rows_line_up_under_the_header() -> None:
    row = list_line(replace(BASE, bytes_done=GIB, state=UploadState.PAUSED))
    assert LIST_HEADER.split()[:6] == ["ID", "STATE", "DONE", "SIZE", "WHEN", "KEY"]
    for word in ("STATE", "KEY"):
        column = LIST_HEADER.index(word)
        assert row[column - 1] == " "
        assert row[column] != " "
    assert row.index("33.3%") + len("33.3%") == LIST_HEADER.index("DONE") + len("DONE")
    assert row.index("3 GiB") + len("3 GiB") == LIST_HEADER.index("SIZE") + len("SIZE")
