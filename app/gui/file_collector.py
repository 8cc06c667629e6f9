"""Turns dropped or chosen paths into the list of files to upload (runs off the GUI thread)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Files that desktops leave in folders and nobody means to upload.
_SKIPPED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


@dataclass(frozen=True)
class PickedFile:
    """A file to upload and the folder its key's `{relpath}` is relative to.

    For a file picked alone, `root` is its own folder (so `{relpath}` is its name); for a file found in
    a dropped folder, `root` is that folder's parent (so `{relpath}` starts with the folder's name).
    """

    path: Path
    root: Path
    size: int


@dataclass(frozen=True)
class Collection:
    files: list[PickedFile]
    problems: list[str]  # sentences for the user about paths that were skipped


def collect_files(paths: Iterable[Path]) -> Collection:
    """Every regular file under `paths`, folders walked recursively in name order; no duplicates."""
    files: list[PickedFile] = []
    problems: list[str] = []
    seen: set[Path] = set()

    def add(path: Path, root: Path) -> None:
        resolved = path.resolve()
        if resolved in seen or path.name in _SKIPPED_NAMES:
            return
        try:
            size = path.stat().st_size
        except OSError as error:
            problems.append(f"“{path}” cannot be read ({error.strerror or error}).")
            return
        seen.add(resolved)
        files.append(PickedFile(path=path, root=root, size=size))

    for path in paths:
        if path.is_dir():
            found_any = False
            for directory, subdirs, names in os.walk(
                path, onerror=lambda e: problems.append(_walk_problem(e))
            ):
                subdirs.sort()
                for name in sorted(names):
                    candidate = Path(directory) / name
                    if candidate.is_file():
                        found_any = True
                        add(candidate, path.parent)
            if not found_any:
                problems.append(f"The folder “{path.name}” has no files to upload.")
        elif path.is_file():
            add(path, path.parent)
        else:
            problems.append(f"“{path}” is not a file or folder that can be uploaded (moved or deleted?).")
    return Collection(files=files, problems=problems)


def _walk_problem(error: OSError) -> str:
    return f"“{error.filename}” cannot be read ({error.strerror or error}); its files were skipped."
