import time, collections
import pytest
from app.gui.main_window import MainWindow
from app.gui.progress_delegate import ProgressDelegate
from app.gui.upload_view import UploadView
from tests.gui.test_responsiveness import *  # noqa

stats = collections.defaultdict(list)

def timed(cls, name):
    orig = getattr(cls, name)
    def wrapper(self, *a, **k):
        t = time.perf_counter()
        try:
            return orig(self, *a, **k)
        finally:
            stats[f"{cls.__name__}.{name}"].append((time.perf_counter() - t) * 1000)
    setattr(cls, name, wrapper)

import os
from app.gui import main_window as mw
_orig_init = mw.MainWindow.__init__
def _init(self, *a, **k):
    _orig_init(self, *a, **k)
    if os.environ.get("NODELEGATE"):
        from PySide6.QtWidgets import QStyledItemDelegate
        self.view.setItemDelegateForColumn(2, QStyledItemDelegate(self.view))
    if os.environ.get("NOPAINT"):
        self.view.setUpdatesEnabled(False)
mw.MainWindow.__init__ = _init

@pytest.fixture(autouse=True)
def patch(monkeypatch):
    for cls, name in ((MainWindow, "on_statuses"), (ProgressDelegate, "paint"), (UploadView, "paintEvent"), (MainWindow, "_refresh")):
        timed(cls, name)
    yield
    for k, v in stats.items():
        print(k, "n", len(v), "total ms", round(sum(v)), "max", round(max(v), 1))
