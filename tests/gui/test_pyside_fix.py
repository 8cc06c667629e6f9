"""PySide6 6.12 loses a reference to None on every void call under Python 3.11; the app must survive a
long session of them (without the guard in app.gui, this test aborts the interpreter on 3.11)."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel

import app.gui  # noqa: F401  (applies the guard, as importing any GUI module does)


def test_a_long_session_of_void_calls_does_not_free_none(qtbot) -> None:
    label = QLabel()
    qtbot.addWidget(label)
    for number in range(200_000):  # far more than None's natural reference count on 3.11
        label.setText("x" if number % 2 else "y")
    assert label.text() == "x"
    if sys.version_info < (3, 12):
        assert sys.getrefcount(None) > 1 << 40  # the headroom is there
