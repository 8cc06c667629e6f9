"""Packs a built one-folder app into a tarball that installs itself under ~/.local.

    python packaging/linux/make_tarball.py dist/s3up dist   # → dist/s3up-0.1.0-linux-x86_64.tar.gz

The tarball holds one folder, ``s3up-<version>-linux-<arch>/``, with ``install.sh`` (run it to install,
``--uninstall`` to remove), ``s3up.desktop``, the icon in hicolor layout (``icons/hicolor/<size>/apps``) and
the app folder ``s3up/``.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESOURCES = HERE.parents[1] / "resources"


def icon_files() -> list[tuple[Path, str]]:
    """The app icon files and their places in the tarball's hicolor theme folder."""
    icons: list[tuple[Path, str]] = []
    for png in sorted((RESOURCES / "icons" / "app").glob("s3up-*.png")):
        size = re.fullmatch(r"s3up-(\d+)\.png", png.name)
        if size:
            icons.append((png, f"icons/hicolor/{size[1]}x{size[1]}/apps/s3up.png"))
    icons.append((RESOURCES / "s3up.svg", "icons/hicolor/scalable/apps/s3up.svg"))
    return icons


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """No build machine's user or group names in the tarball."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _executable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode = 0o755
    return _owned_by_root(info)


def make_tarball(app_dir: Path, out_dir: Path, app_version: str | None = None) -> Path:
    """Write ``s3up-<version>-linux-<arch>.tar.gz`` into `out_dir` from the built `app_dir`; return it."""
    if not (app_dir / "s3up").is_file():
        raise FileNotFoundError(f"{app_dir} is not a one-folder s3up build (no {app_dir / 's3up'})")
    name = f"s3up-{app_version or version('s3up')}-linux-{platform.machine()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    tarball = out_dir / f"{name}.tar.gz"
    with tarfile.open(tarball, "w:gz", compresslevel=6) as archive:
        archive.add(HERE / "install.sh", f"{name}/install.sh", filter=_executable)
        archive.add(HERE / "s3up.desktop", f"{name}/s3up.desktop", filter=_owned_by_root)
        for source, target in icon_files():
            archive.add(source, f"{name}/{target}", filter=_owned_by_root)
        archive.add(app_dir, f"{name}/s3up", filter=_owned_by_root)  # symlinks stay symlinks
    return tarball


def main(argv: list[str] | None = None) -> int:
    """Command line: APP_DIR OUT_DIR; prints the tarball's path."""
    parser = argparse.ArgumentParser(description="Pack a built s3up folder into an installable tarball.")
    parser.add_argument("app_dir", type=Path, help="the one-folder build, e.g. dist/s3up")
    parser.add_argument("out_dir", type=Path, help="where to write the tarball, e.g. dist")
    args = parser.parse_args(argv)
    print(make_tarball(args.app_dir, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
