"""Keeps the garbage collector's full collections short while the app holds thousands of uploads.

A full collection walks every tracked object while holding the interpreter lock, so its pause grows with
the number of uploads the app holds (about 450 ms at 10,000). Objects that live as long as the app (those
built at start-up, and those of uploads just added) are moved out of its reach with `gc.freeze()`: it never
walks them again. Objects freed by their reference count are freed as before; only a reference cycle
among frozen objects would outlive its use, so young garbage is collected first.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Exempt everything built so far (modules, Qt wrappers, the window) from garbage collection.

    With ~100,000 objects from start-up a full collection stalls the GUI for 40-60 ms.
    """
    gc.collect()
    gc.freeze()


def freeze_long_lived_objects() -> None:
    """After a batch of uploads was added: collect the young generations (cheap: they are small), then
    exempt what survived, the new uploads' records, from later full collections."""
    gc.collect(1)
    gc.freeze()
