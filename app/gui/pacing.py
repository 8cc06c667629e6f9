"""Work for the GUI thread in portions: a long list is handed over a few hundred items per turn of the
event loop, so that input, painting and timers run in between and no turn holds the window for long."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from PySide6.QtCore import QObject, QTimer

T = TypeVar("T")


class Paced(QObject, Generic[T]):
    """Calls `consume(items)` with at most `per_turn` items per turn of the event loop, in the order put."""

    def __init__(self, consume: Callable[[list[T]], None], per_turn: int, parent: QObject | None = None):
        super().__init__(parent)
        self._consume = consume
        self._per_turn = per_turn
        self._waiting: deque[T] = deque()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._turn)

    def put(self, items: Iterable[T]) -> None:
        """Queue `items`; the first portion is handed over at once, the rest on the next turns."""
        self._waiting.extend(items)
        if not self._timer.isActive():
            self._turn()

    def __len__(self) -> int:
        return len(self._waiting)

    def _turn(self) -> None:
        count = min(self._per_turn, len(self._waiting))
        portion = [self._waiting.popleft() for _ in range(count)]
        if self._waiting:
            self._timer.start()
        if portion:
            self._consume(portion)
