"""A guard against a PySide6 6.12 reference-count bug on Python 3.11.

PySide6 6.12 returns `None` from void C++ methods (`label.setText(...)`, `painter.save()`...) without
taking a new reference, and some calls lose references to `True`/`False` the same way. On Python 3.12+
these singletons are immortal (PEP 683) and nothing happens; on 3.11 each such call lowers the count
by one, and a running GUI reaches zero within minutes: the interpreter aborts with "Fatal Python error:
none_dealloc" (or bool_dealloc). Giving the three singletons a reference count that no run can use up
does on 3.11 what 3.12 does for every interpreter. Remove this module when Python 3.11 is dropped.
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 48


def keep_singletons_alive() -> None:
    """Give None, True and False headroom (once; calling again does nothing)."""
    if (
        sys.version_info >= (3, 12)
        or sys.implementation.name != "cpython"
        or hasattr(sys, "gettotalrefcount")
    ):
        return  # immortal already, or not the object layout this relies on (debug builds differ)
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))
        if refcount.value < _HEADROOM:
            refcount.value += _HEADROOM
