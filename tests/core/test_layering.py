"""The core and the CLI must never load Qt: they run on machines with no display."""

from __future__ import annotations

import subprocess
import sys


def test_core_and_cli_do_not_import_pyside6() -> None:
    code = (
        "import sys, pkgutil, importlib, app.core, app.cli\n"
        "for m in pkgutil.walk_packages(app.core.__path__, 'app.core.'): importlib.import_module(m.name)\n"
        "loaded = sorted(n for n in sys.modules if n.startswith(('PySide6', 'shiboken6')))\n"
        "print(','.join(loaded))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout
