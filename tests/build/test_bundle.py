"""The PyInstaller bundle: built with the README's one command into a temporary folder, then checked from
outside (self-test, contents, size, `--local`) and installed from its tarball into a temporary HOME."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.build.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SELF_TEST_LINE = re.compile(
    r"s3up (?P<version>\S+) self-test OK: window shown (?P<seconds>[\d.]+) s after start \(offscreen\), "
    r"(?P<icons>\d+) icons, keyring: (?P<keyring>.+)"
)
MAX_BUNDLE_MIB = 150  # `du -sh` counts MiB
LEFT_OUT_MODULES = ("backend", "moto", "boto3", "botocore", "flask", "tests", "benchmarks", "pytest", "numpy")
LEFT_OUT_FILES = re.compile(
    r"/plugins/(wayland-|platformthemes/.*gtk|platforms/.*wayland|egldeviceintegrations)|/translations/"
    r"|Qt6?(Pdf|VirtualKeyboard|Quick|Qml|WebEngine|Multimedia)|lib(gtk|gdk|cairo|pango)"
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python tools/build.py` (one folder, self-test, tarball) into a temporary dist folder."""
    folder = tmp_path_factory.mktemp("bundle")
    command = [sys.executable, str(ROOT / "tools" / "build.py")]
    result = subprocess.run(
        [*command, "--dist", str(folder / "dist"), "--work", str(folder / "work")],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert "self-test OK" in result.stdout
    return folder / "dist"


def run_frozen(program: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(program), *args],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_frozen_app_passes_its_self_test_offscreen(dist: Path) -> None:
    result = run_frozen(dist / "s3up" / "s3up", "--self-test")
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = result.stdout.splitlines()
    match = SELF_TEST_LINE.fullmatch(line)
    assert match, line
    assert match["version"] == version("s3up")  # from the bundled package metadata
    assert int(match["icons"]) >= 10
    assert float(match["seconds"]) < 10
    assert match["keyring"]  # "none (…)" on a machine with no keyring service


def test_the_bundle_holds_the_app_only(dist: Path) -> None:
    from PyInstaller.archive.readers import CArchiveReader

    app = dist / "s3up"
    files = [path for path in app.rglob("*") if path.is_file() or path.is_symlink()]
    assert sum(path.lstat().st_size for path in files) / 2**20 <= MAX_BUNDLE_MIB
    unwanted = [
        str(path.relative_to(app)) for path in files if LEFT_OUT_FILES.search(f"/{path.relative_to(app)}")
    ]
    assert unwanted == []
    assert [str(path) for path in files if path.is_symlink() and not path.exists()] == []  # none dangles
    assert (app / "_internal" / "resources" / "icons" / "app" / "s3up-256.png").is_file()

    modules = CArchiveReader(str(app / "s3up")).open_embedded_archive("PYZ.pyz").toc
    assert "app.gui.main_window" in modules
    assert "app.selftest" in modules
    assert "keyring.backends.SecretService" in modules
    assert [name for name in modules if name.split(".")[0] in LEFT_OUT_MODULES] == []


def test_every_bundled_library_finds_what_it_links_to(dist: Path) -> None:
    """The pruning in build.spec kept every library that a kept binary needs (except those PyInstaller
    always leaves to the system: libc, libGL, libxcb…). A library missing on the build machine shows up
    here too: install it there (see README.md, Building the desktop app)."""
    from PyInstaller.depend.bindepend import get_imports
    from PyInstaller.depend.dylib import include_library

    internal = dist / "s3up" / "_internal"
    bundled = {path.name for path in internal.rglob("*")}
    missing: dict[str, set[str]] = {}
    for path in internal.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.read_bytes()[:4] == b"\x7fELF":
            for name, _ in get_imports(str(path)):
                if Path(name).name not in bundled and include_library(Path(name).name):
                    missing.setdefault(Path(name).name, set()).add(path.name)
    assert missing == {}, f"install these libraries on the build machine (see README.md): {missing}"


def test_local_mode_says_the_packaged_app_leaves_it_out(dist: Path) -> None:
    result = run_frozen(dist / "s3up" / "s3up", "--local")
    assert result.returncode == 2
    assert "packaged app leaves out" in result.stderr
    assert "python -m app --local" in result.stderr


def test_the_tarball_installs_a_working_app_and_uninstalls(dist: Path, tmp_path: Path) -> None:
    (tarball,) = dist.glob("s3up-*-linux-*.tar.gz")
    with tarfile.open(tarball) as archive:
        archive.extractall(tmp_path, filter="tar")
    (folder,) = (path for path in tmp_path.iterdir() if path.name.startswith("s3up-"))
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    install = subprocess.run(
        [str(folder / "install.sh")], env=env, capture_output=True, text=True, check=False
    )
    assert install.returncode == 0, install.stderr

    result = run_frozen(home / ".local" / "bin" / "s3up-gui", "--self-test", HOME=str(home))
    assert result.returncode == 0, result.stdout + result.stderr
    assert SELF_TEST_LINE.fullmatch(result.stdout.strip())

    uninstall = subprocess.run(
        [str(home / ".local" / "lib" / "s3up" / "install.sh"), "--uninstall"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert uninstall.returncode == 0, uninstall.stderr
    assert [path for path in home.rglob("*") if not path.is_dir()] == []
