"""PySide6 6.12 lost a reference to None on every void call under Python 3.11 (the interpreter then aborts
with "none_dealloc" within minutes of GUI use). The pinned version must not: a long session of void calls
leaves None's reference count where it was."""

from __future__ import annotations

import sys

from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QLabel


def test_void_calls_do_not_leak_references_to_singletons(qtbot) -> None:
    label = QLabel()
    qtbot.addWidget(label)
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for number in range(20_000):
        label.setText("x" if number % 2 else "y")
        painter.save()
        painter.restore()
        label.setEnabled(True)
    painter.end()
    assert abs(sys.getrefcount(None) - none_before) < 100
    assert abs(sys.getrefcount(True) - true_before) < 100
