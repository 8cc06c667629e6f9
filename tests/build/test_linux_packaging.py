"""The Linux desktop integration: the .desktop file, the icons, and the tarball's install script
(installed into a temporary HOME around a stand-in app, then uninstalled)."""

from __future__ import annotations

import configparser
import os
import shutil
import stat
import struct
import subprocess
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.build.conftest import LINUX

DESKTOP_FILE = LINUX / "s3up.desktop"


def read_desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def validate_desktop_file(path: Path) -> None:
    """desktop-file-validate when it is installed (apt: desktop-file-utils); the key checks in any case."""
    validator = shutil.which("desktop-file-validate")
    if validator:
        result = subprocess.run([validator, str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert not result.stdout.strip(), result.stdout  # hints and warnings count too
    entry = read_desktop_entry(path)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "s3up"
    assert entry["Icon"] == "s3up"
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")
    assert "Network" in entry["Categories"].split(";")  # a main category, for the menu's section


def test_desktop_file_is_valid() -> None:
    validate_desktop_file(DESKTOP_FILE)
    assert read_desktop_entry(DESKTOP_FILE)["Exec"] == "s3up-gui"


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_the_icon_comes_in_every_hicolor_size_it_claims(make_tarball: ModuleType) -> None:
    icons = make_tarball.icon_files()
    folders = {target.split("/")[2] for _, target in icons}
    assert {"16x16", "32x32", "48x48", "128x128", "256x256", "scalable"} <= folders
    for source, target in icons:
        folder = target.split("/")[2]
        if folder == "scalable":
            assert source.suffix == ".svg"
            assert "<svg" in source.read_text()
        else:
            size = int(folder.split("x")[0])
            assert png_size(source) == (size, size), source


@pytest.fixture
def unpacked(tmp_path: Path, make_tarball: ModuleType) -> Path:
    """A tarball around a stand-in app (a script that prints its arguments), unpacked."""
    app = tmp_path / "dist" / "s3up"
    (app / "_internal").mkdir(parents=True)
    (app / "_internal" / "data.txt").write_text("bundled")
    program = app / "s3up"
    program.write_text('#!/bin/sh\necho "stand-in app: $*"\n')
    program.chmod(0o755)
    tarball = make_tarball.make_tarball(app, tmp_path / "out", app_version="9.8.7")
    assert tarball.name.startswith("s3up-9.8.7-linux-")
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        assert all(name.startswith(tarball.name.removesuffix(".tar.gz")) for name in names)
        archive.extractall(tmp_path / "unpacked", filter="data")
    (folder,) = (tmp_path / "unpacked").iterdir()
    assert os.access(folder / "install.sh", os.X_OK)
    return folder


def run_install(folder: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    return subprocess.run(
        ["sh", str(folder / "install.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def files_under(home: Path) -> list[str]:
    return sorted(str(path.relative_to(home)) for path in home.rglob("*") if not path.is_dir())


def test_install_puts_the_app_the_launcher_the_menu_entry_and_icons_under_local(
    unpacked: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = run_install(unpacked, home)
    assert result.returncode == 0, result.stderr
    local = home / ".local"
    assert "applications menu" in result.stdout

    assert (local / "lib" / "s3up" / "_internal" / "data.txt").read_text() == "bundled"
    launcher = local / "bin" / "s3up-gui"
    assert launcher.stat().st_mode & stat.S_IXUSR
    ran = subprocess.run([str(launcher), "--self-test"], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "stand-in app: --self-test"

    desktop = local / "share" / "applications" / "s3up.desktop"
    validate_desktop_file(desktop)
    assert read_desktop_entry(desktop)["Exec"] == f'"{launcher}"'
    icons = local / "share" / "icons" / "hicolor"
    assert (icons / "scalable" / "apps" / "s3up.svg").is_file()
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert png_size(icons / f"{size}x{size}" / "apps" / "s3up.png") == (size, size)


def test_reinstall_updates_and_uninstall_removes_every_file(unpacked: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "s3up").mkdir(parents=True)
    (home / ".config" / "s3up" / "settings.json").write_text("{}")  # the user's: must stay
    assert run_install(unpacked, home).returncode == 0
    stale = home / ".local" / "lib" / "s3up" / "_internal" / "from-an-older-version.so"
    stale.write_text("old")
    installed = files_under(home)

    assert run_install(unpacked, home).returncode == 0  # an update
    assert not stale.exists()
    assert files_under(home) == [name for name in installed if name != str(stale.relative_to(home))]

    result = run_install(home / ".local" / "lib" / "s3up", home, "--uninstall")  # the installed copy
    assert result.returncode == 0, result.stderr
    assert files_under(home) == [".config/s3up/settings.json"]
    assert not (home / ".local" / "lib").exists()
    assert not (home / ".local" / "share" / "icons").exists()


def test_install_leaves_a_launcher_it_did_not_write_alone(unpacked: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    foreign = home / ".local" / "bin" / "s3up-gui"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("#!/bin/sh\n# pip's entry point\n")
    result = run_install(unpacked, home)
    assert result.returncode != 0
    assert "not s3up's launcher" in result.stderr
    assert foreign.read_text() == "#!/bin/sh\n# pip's entry point\n"
    assert not (home / ".local" / "lib" / "s3up").exists()


def test_install_outside_the_tarball_says_what_to_do(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy2(LINUX / "install.sh", lonely / "install.sh")
    result = run_install(lonely, tmp_path / "home")
    assert result.returncode != 0
    assert "unpacked s3up tarball" in result.stderr
