"""The one folder walker: the files a user means when they drop or name files and folders.

`walk(paths)` is a generator, so the first of 10,000 files comes at once. For each path given, in the
order given, it yields a `FoundFile` for every file to upload and a `WalkProblem` for everything that
cannot be (each with a sentence for the user). What it promises:

- **Keys stay as they were**: a file given alone has `relpath` = its name; a file found in a folder has
  `relpath` = its path from the folder's parent, so it starts with the folder's own name
  (``album/sub/b.jpg``), with ``/`` on every system. `root` is the folder `relpath` is relative to.
- **Deterministic order**: a folder's entries in name order (code point order), each sub-folder's files
  right where its name sorts, as a file manager's tree shows them.
- **Nothing twice**: a file reached again (given twice, given alone and inside a given folder, or through
  a symbolic link) is yielded once, at its first place. Same file = same resolved path.
- **Symbolic links are followed**, to files and to folders; a link that leads back into a folder it is
  in (a loop), or that cannot be resolved (a chain of links that ends in itself), is reported, as is a
  link whose target is missing. A folder reached twice through links is walked once.
- **Desktop junk is skipped inside folders** (`is_junk`): ``.DS_Store``, ``._*`` AppleDouble files,
  ``Thumbs.db``, ``desktop.ini``, the macOS volume folders (``.Trashes``, ``.Spotlight-V100``…), and
  Windows' ``$RECYCLE.BIN`` and ``System Volume Information``. A junk file named explicitly is uploaded:
  the user asked for it. Other hidden files (``.env``, ``.git``) are not skipped.
- **Unreadable** folders and files are reported; a folder with nothing to upload is reported.
"""

from __future__ import annotations

import enum
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

JUNK_FILES = frozenset({".DS_Store", "Thumbs.db", "ehthumbs.db", "desktop.ini", "Icon\r", ".localized"})
JUNK_FOLDERS = frozenset(
    {
        ".Trashes",
        ".Spotlight-V100",
        ".fseventsd",
        ".TemporaryItems",
        ".DocumentRevisions-V100",
        "$RECYCLE.BIN",
        "System Volume Information",
    }
)


def is_junk(name: str, *, folder: bool) -> bool:
    """True for what desktops leave in folders and nobody means to upload (see the module docstring)."""
    if folder:
        return name in JUNK_FOLDERS
    return name in JUNK_FILES or name.startswith("._")


@dataclass(frozen=True)
class FoundFile:
    """A regular file to upload (`path` as found, links not resolved) and its key's `relpath`."""

    path: Path
    root: Path  # the folder `relpath` is relative to
    relpath: str  # with "/" separators
    size: int


class Problem(enum.Enum):
    MISSING = "missing"  # no such file or folder (or a broken link)
    LOOP = "loop"  # a symbolic link loop
    UNREADABLE = "unreadable"  # permission denied, I/O error
    NOT_A_FILE = "not_a_file"  # a device, socket, pipe…
    EMPTY = "empty"  # a given folder with nothing to upload


@dataclass(frozen=True)
class WalkProblem:
    """A path that cannot be uploaded: `message` is a sentence for the user that names it."""

    path: Path
    kind: Problem
    message: str


@dataclass
class Collection:
    """Everything one `walk` found, for callers that want all of it at once."""

    files: list[FoundFile] = field(default_factory=list)
    problems: list[WalkProblem] = field(default_factory=list)


def collect(paths: Iterable[Path]) -> Collection:
    """`walk(paths)` gathered into files and problems."""
    found = Collection()
    for item in walk(paths):
        if isinstance(item, FoundFile):
            found.files.append(item)
        else:
            found.problems.append(item)
    return found


def walk(paths: Iterable[Path]) -> Iterator[FoundFile | WalkProblem]:
    """The files under `paths` and the problems met on the way (see the module docstring)."""
    walker = _Walker()
    for given in paths:
        yield from walker.given(Path(os.path.expanduser(given)))


class _Walker:
    """State shared across the given paths: what was already yielded and which folders were walked."""

    def __init__(self) -> None:
        self.seen_files: set[str] = set()  # resolved paths
        self.seen_folders: set[tuple[int, int]] = set()  # (device, inode)

    def given(self, path: Path) -> Iterator[FoundFile | WalkProblem]:
        try:
            info = path.stat()
        except OSError as error:
            yield _problem(path, error)
            return
        absolute = Path(os.path.abspath(path))
        if stat.S_ISDIR(info.st_mode):
            if (info.st_dev, info.st_ino) in self.seen_folders:
                return  # given twice, or inside a folder given before: its files came already
            nothing = True
            for item in self._folder(absolute, info):
                nothing = False
                yield item
            if nothing:
                yield WalkProblem(path, Problem.EMPTY, f"{path}: the folder has no files to upload.")
        elif stat.S_ISREG(info.st_mode):
            found = self._file(absolute, os.path.realpath(absolute), info, absolute.parent, absolute.name)
            if found is not None:
                yield found
        else:
            yield _not_a_file(path)

    def _folder(self, top: Path, info: os.stat_result) -> Iterator[FoundFile | WalkProblem]:
        """Walk `top` depth first without recursion (trees may be deep), entries in name order."""
        identity = (info.st_dev, info.st_ino)
        self.seen_folders.add(identity)
        listed = self._entries(top)
        if isinstance(listed, WalkProblem):
            yield listed
            return
        # One frame per open folder: its path, its relpath, its resolved path, the (device, inode) of it
        # and of the folders it is in, and its entries not walked yet (last name first: pop() is in order).
        frames = [(top, top.name, os.path.realpath(top), frozenset({identity}), listed)]
        while frames:
            folder, relfolder, resolved, ancestors, entries = frames[-1]
            if not entries:
                frames.pop()
                continue
            entry = entries.pop()
            path = folder / entry.name
            try:
                is_link = entry.is_symlink()
                entry_info = entry.stat() if is_link else entry.stat(follow_symlinks=False)
            except OSError as error:
                yield _problem(path, error, link=True)
                continue
            if stat.S_ISDIR(entry_info.st_mode):
                if is_junk(entry.name, folder=True):
                    continue
                identity = (entry_info.st_dev, entry_info.st_ino)
                if identity in ancestors:
                    yield WalkProblem(
                        path,
                        Problem.LOOP,
                        f"{path}: a symbolic link loop (it leads back to {os.path.realpath(path)}, a "
                        "folder it is in).",
                    )
                    continue
                if identity in self.seen_folders:
                    continue  # reached before (through a link, or given on its own): its files came then
                self.seen_folders.add(identity)
                listed = self._entries(path)
                if isinstance(listed, WalkProblem):
                    yield listed
                    continue
                child = os.path.realpath(path) if is_link else os.path.join(resolved, entry.name)
                frames.append((path, _join(relfolder, entry.name), child, ancestors | {identity}, listed))
            elif stat.S_ISREG(entry_info.st_mode):
                if is_junk(entry.name, folder=False):
                    continue
                real = os.path.realpath(path) if is_link else os.path.join(resolved, entry.name)
                found = self._file(path, real, entry_info, top.parent, _join(relfolder, entry.name))
                if found is not None:
                    yield found
            else:
                yield _not_a_file(path)

    def _entries(self, folder: Path) -> list[os.DirEntry[str]] | WalkProblem:
        """The folder's entries, last name first; or why it cannot be listed."""
        try:
            with os.scandir(folder) as listing:
                return sorted(listing, key=lambda entry: entry.name, reverse=True)
        except OSError as error:
            return _problem(folder, error, folder=True)

    def _file(
        self, path: Path, resolved: str, info: os.stat_result, root: Path, relpath: str
    ) -> FoundFile | WalkProblem | None:
        if resolved in self.seen_files:
            return None
        self.seen_files.add(resolved)
        if not os.access(path, os.R_OK):
            return WalkProblem(path, Problem.UNREADABLE, f"{path}: cannot be read (permission denied).")
        return FoundFile(path=path, root=root, relpath=relpath, size=info.st_size)


def _problem(path: Path, error: OSError, *, link: bool = False, folder: bool = False) -> WalkProblem:
    """A sentence for an OSError met at `path`."""
    if error.errno == errno.ELOOP:
        return WalkProblem(
            path, Problem.LOOP, f"{path}: a symbolic link loop (the link leads back to itself)."
        )
    if error.errno == errno.ENOENT:
        if link or os.path.islink(path):
            target = os.readlink(path) if os.path.islink(path) else "?"
            return WalkProblem(
                path, Problem.MISSING, f"{path}: a symbolic link to {target}, which does not exist."
            )
        return WalkProblem(path, Problem.MISSING, f"{path}: no such file or folder.")
    reason = "permission denied" if error.errno in (errno.EACCES, errno.EPERM) else error.strerror or error
    if folder:
        return WalkProblem(path, Problem.UNREADABLE, f"{path}: the folder cannot be read ({reason}).")
    return WalkProblem(path, Problem.UNREADABLE, f"{path}: cannot be read ({reason}).")


def _join(relfolder: str, name: str) -> str:
    return f"{relfolder}/{name}" if relfolder else name  # the top folder "/" has no name


def _not_a_file(path: Path) -> WalkProblem:
    return WalkProblem(path, Problem.NOT_A_FILE, f"{path}: not a regular file or folder.")
