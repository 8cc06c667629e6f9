"""`s3up --self-test`: checks that this build of the app can start, and says so in one line.

Meant for the frozen (PyInstaller) app; works from a source checkout too. It starts Qt offscreen (unless
``QT_QPA_PLATFORM`` names another platform), builds the main window as the app does but on a throw-away
journal and config (``S3UP_HOME`` in a temporary folder), waits until the window is shown and painted,
then checks that the bundled icons render, that the package metadata is there and that the keyring
backends for this OS were bundled. It prints one line and returns 0::

    s3up 0.1.0 self-test OK: window shown 0.41 s after start (offscreen), 20 icons, keyring: none (...)

On failure it prints ``s3up self-test FAILED: <reasons>`` and returns 1. No keyring service (a headless
machine) is reported, not a failure. Qt is imported inside functions only.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QIcon

WINDOW_TIMEOUT_MS = 15_000

# The keyring backends (entry-point names in keyring's metadata) that must be registered on each OS, and
# the OS bindings they import lazily (PyInstaller cannot see those imports).
_KEYRING_BACKENDS, _KEYRING_BINDINGS = {
    "win32": (("Windows", "chainer"), ("win32ctypes.pywin32.win32cred",)),
    "darwin": (("macOS", "chainer"), ("keyring.backends.macOS.api",)),
}.get(
    sys.platform,
    (("SecretService", "KWallet", "libsecret", "chainer"), ("secretstorage", "jeepney.io.blocking")),
)


@dataclass
class Report:
    """What the self-test found; no `problems` means it passed."""

    problems: list[str] = field(default_factory=list)
    version: str = "?"
    platform: str = "?"
    shown_after_s: float | None = None
    icons: int = 0
    keyring: str = "?"

    def line(self) -> str:
        """The one-line summary the self-test prints."""
        if self.problems:
            return f"s3up self-test FAILED: {'; '.join(self.problems)}"
        shown = "n/a" if self.shown_after_s is None else f"{self.shown_after_s:.2f} s"
        return (
            f"s3up {self.version} self-test OK: window shown {shown} after start ({self.platform}), "
            f"{self.icons} icons, keyring: {self.keyring}"
        )


def _process_age(pid: int | str) -> float | None:
    """Seconds since process `pid` started (Linux, 10 ms resolution), or None where that is not known."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError):
        return None
    start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: start time, in clock ticks after boot
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def seconds_since_start() -> float | None:
    """How long ago the app was started: this process or, in a one-file bundle, the launcher that unpacked
    it (the parent). None where the OS does not say (only Linux is measured)."""
    bundle = getattr(sys, "_MEIPASS", None)
    onefile = bundle is not None and not Path(bundle).is_relative_to(Path(sys.executable).parent)
    return _process_age(os.getppid() if onefile else "self")


def check_metadata(report: Report) -> None:
    """The s3up distribution's version and keyring's backend entry points are there, and those backends and
    this OS's keyring bindings import."""
    try:
        report.version = version("s3up")
    except PackageNotFoundError:
        report.problems.append("the s3up package metadata is missing (no version)")
    registered = {entry.name: entry.value for entry in entry_points(group="keyring.backends")}
    missing = [name for name in _KEYRING_BACKENDS if name not in registered]
    if missing:
        report.problems.append(f"keyring backends not registered (keyring's metadata missing?): {missing}")
    for module in [*sorted(set(registered.values())), *_KEYRING_BINDINGS]:
        try:
            importlib.import_module(module)
        except Exception as error:  # an ImportError, or a binding that fails while loading
            report.problems.append(f"cannot import {module}: {error}")


def describe_keyring() -> str:
    """The keyring the app would keep the token in, named as the sign-in dialog names it."""
    from app.core.credentials import CredentialStore

    name = CredentialStore().backend_name()
    if name == "none":
        return "none (no keyring service here; a token would be kept for the session only)"
    return name


def _renders(icon: QIcon) -> bool:
    """True when the icon draws at least one visible pixel at 32 px."""
    from PySide6.QtGui import QImage

    if icon.isNull():
        return False
    alpha = icon.pixmap(32, 32).toImage().convertToFormat(QImage.Format.Format_Alpha8)
    return not alpha.isNull() and any(bytes(alpha.constBits()))


def check_icons(report: Report) -> None:
    """The app icon and every icon in `resources/icons` render."""
    from PySide6.QtGui import QIcon

    from app.gui.resources import app_icon, resource_dir

    svgs = sorted((resource_dir() / "icons").glob("*.svg"))
    if not svgs:
        report.problems.append(f"no icons in {resource_dir()}")
    icons = [("app icon", app_icon()), *((path.name, QIcon(str(path))) for path in svgs)]
    blank = [name for name, icon in icons if not _renders(icon)]
    if blank:
        report.problems.append(f"icons do not render (SVG plugin missing?): {', '.join(blank)}")
    report.icons = len(icons) - len(blank)


def check_main_window(report: Report) -> None:
    """Build the app's main window on an empty journal, show it, wait until it has painted (recording the
    time since start), then check its icon and the bundled icons."""
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer

    from app.gui.application import create_application
    from app.gui.startup import wired_app

    class FirstExpose(QObject):
        """Ends `loop` one event-loop turn after the window's first expose: it has painted by then."""

        def __init__(self, loop: QEventLoop) -> None:
            super().__init__()
            self.loop = loop
            self.exposed = False

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Expose and not self.exposed:
                self.exposed = True
                QTimer.singleShot(0, self.painted)
            return False

        def painted(self) -> None:
            report.shown_after_s = seconds_since_start()
            self.loop.quit()

    app = create_application([sys.argv[0]])
    report.platform = app.platformName()
    with wired_app() as wired:
        window = wired.window
        loop = QEventLoop()
        watch = FirstExpose(loop)
        window.createWinId()
        window.windowHandle().installEventFilter(watch)
        window.show()
        QTimer.singleShot(WINDOW_TIMEOUT_MS, loop.quit)
        loop.exec()
        if not watch.exposed:
            report.problems.append(f"the main window was not shown within {WINDOW_TIMEOUT_MS // 1000} s")
        if window.windowIcon().isNull():
            report.problems.append("the main window has no icon")
        check_icons(report)


def run_self_test() -> int:
    """Run every check and print the one-line report on stdout; 0 when all passed, else 1."""
    report = Report()
    if not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    with tempfile.TemporaryDirectory(prefix="s3up-self-test-") as home:
        os.environ["S3UP_HOME"] = home  # the journal, settings and window state of this run only
        try:
            check_main_window(report)
            check_metadata(report)
            report.keyring = describe_keyring()
        except Exception as error:  # a module or library missing from a bundle shows up here
            report.problems.append(f"{type(error).__name__}: {error}")
    if sys.stdout is not None:  # a windowed Windows app has no stdout unless it is redirected
        print(report.line(), flush=True)
    return 1 if report.problems else 0
