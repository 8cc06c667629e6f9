"""One command to build the s3up desktop app: ``python tools/build.py [--onefile]``.

Runs PyInstaller on ``build.spec`` (output in ``dist/``, work files in ``build/``), runs the built app's
``--self-test`` offscreen, and on Linux packs the one-folder build into
``dist/s3up-<version>-linux-<arch>.tar.gz`` (unpack it and run ``install.sh``). Prints the build time, the
bundle's size and the self-test's line; exits non-zero when a step fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def app_path(dist: Path, *, onefile: bool) -> Path:
    """What PyInstaller builds in `dist`: the one-folder app's folder (or .app), or the one-file app."""
    if onefile:
        return dist / ("s3up.exe" if sys.platform == "win32" else "s3up")
    return dist / ("s3up.app" if sys.platform == "darwin" else "s3up")


def executable(app: Path) -> Path:
    """The program to start inside a built app."""
    if app.suffix == ".app":
        return app / "Contents" / "MacOS" / "s3up"
    if app.is_dir():
        return app / ("s3up.exe" if sys.platform == "win32" else "s3up")
    return app


def size_bytes(path: Path) -> int:
    """The size of a file, or of every file under a folder (symbolic links not followed)."""
    if not path.is_dir():
        return path.stat().st_size
    return sum(item.lstat().st_size for item in path.rglob("*") if not item.is_dir() or item.is_symlink())


def run_pyinstaller(dist: Path, work: Path, *, onefile: bool) -> None:
    """Build the app from build.spec into `dist`."""
    env = {**os.environ, "S3UP_ONEFILE": "1" if onefile else "0"}
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
    command += ["--distpath", str(dist), "--workpath", str(work), str(ROOT / "build.spec")]
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def self_test(program: Path) -> subprocess.CompletedProcess[str]:
    """Run the built app's --self-test offscreen; its stdout holds the one-line report."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [str(program), "--self-test"], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def main(argv: list[str] | None = None) -> int:
    """Build, self-test and (Linux, one folder) pack the app; returns the exit code."""
    parser = argparse.ArgumentParser(description="Build the s3up desktop app with PyInstaller.")
    parser.add_argument("--onefile", action="store_true", help="one self-extracting executable, not a folder")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist)")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="work folder (default: build)")
    parser.add_argument("--no-tarball", action="store_true", help="skip the Linux tarball")
    args = parser.parse_args(argv)

    started = time.monotonic()
    run_pyinstaller(args.dist, args.work, onefile=args.onefile)
    app = app_path(args.dist, onefile=args.onefile)
    print(f"Built {app} in {time.monotonic() - started:.0f} s: {size_bytes(app) / 2**20:.0f} MiB")

    result = self_test(executable(app))
    print(result.stdout.strip() or result.stderr.strip())
    if result.returncode != 0:
        return result.returncode

    if sys.platform.startswith("linux") and not args.onefile and not args.no_tarball:
        tarball = subprocess.run(
            [sys.executable, str(ROOT / "packaging" / "linux" / "make_tarball.py"), str(app), str(args.dist)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(
            f"Packed {tarball}: {Path(tarball).stat().st_size / 2**20:.0f} MiB (unpack it and run install.sh)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
