"""The one folder walker that the CLI and the app share (app.core.folders)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from app.core import folders
from app.core.folders import FoundFile, Problem, WalkProblem, collect, is_junk, walk


def touch(path: Path, size: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def relpaths(items: list[FoundFile]) -> list[str]:
    return [item.relpath for item in items]


def test_keys_are_relative_to_the_folders_parent_and_a_lone_file_is_its_name(tmp_path: Path) -> None:
    touch(tmp_path / "album" / "b.jpg", 3)
    touch(tmp_path / "album" / "sub" / "c.txt")
    touch(tmp_path / "album" / "a.jpg")
    touch(tmp_path / "album" / "z.txt")
    alone = touch(tmp_path / "elsewhere" / "report.pdf", 7)
    found = collect([tmp_path / "album", alone])
    assert found.problems == []
    # name order, each sub-folder's files where its name sorts (as a file manager's tree shows them)
    assert relpaths(found.files) == [
        "album/a.jpg",
        "album/b.jpg",
        "album/sub/c.txt",
        "album/z.txt",
        "report.pdf",
    ]
    assert found.files[1] == FoundFile(tmp_path / "album" / "b.jpg", tmp_path, "album/b.jpg", 3)
    assert found.files[-1] == FoundFile(alone, alone.parent, "report.pdf", 7)


def test_a_relative_path_gives_absolute_files_with_the_same_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    touch(tmp_path / "album" / "a.jpg")
    monkeypatch.chdir(tmp_path / "album")
    (found,) = collect([Path(".")]).files
    assert found.path == tmp_path / "album" / "a.jpg"
    assert found.relpath == "album/a.jpg"


def test_desktop_junk_is_skipped_in_folders_but_not_when_named(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    for junk in (".DS_Store", "._a.jpg", "Thumbs.db", "desktop.ini", ".Trashes/x", ".Spotlight-V100/y",
                 "$RECYCLE.BIN/z", "System Volume Information/w", "sub/.DS_Store"):  # fmt: skip
        touch(folder / junk)
    touch(folder / "a.jpg")
    touch(folder / ".env")  # hidden, but no desktop junk: the user may mean it
    found = collect([folder, folder / ".DS_Store"])
    assert relpaths(found.files) == ["photos/.env", "photos/a.jpg", ".DS_Store"]
    assert found.problems == []
    assert is_junk("._x", folder=False)
    assert not is_junk("._x", folder=True)


def test_the_same_file_is_yielded_once_at_its_first_place(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    report = touch(folder / "report.pdf")
    touch(folder / "notes.txt")
    os.symlink(report, folder / "zz-link-to-report.pdf")
    found = collect([report, folder, folder, tmp_path / "docs" / ".." / "docs" / "notes.txt"])
    assert relpaths(found.files) == ["report.pdf", "docs/notes.txt"]
    assert found.problems == []


def test_symbolic_links_to_files_and_folders_are_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    touch(target / "inside.txt")
    real_file = touch(tmp_path / "real.bin", 5)
    folder = tmp_path / "folder"
    folder.mkdir()
    os.symlink(target, folder / "linked-dir")
    os.symlink(real_file, folder / "linked-file.bin")
    found = collect([folder])
    assert relpaths(found.files) == ["folder/linked-dir/inside.txt", "folder/linked-file.bin"]
    assert found.files[1].size == 5
    assert found.files[1].path == folder / "linked-file.bin"  # as found, so the key keeps the link's name


def test_symlink_loops_are_reported_as_loops(tmp_path: Path) -> None:
    folder = tmp_path / "tree"
    touch(folder / "sub" / "a.txt")
    os.symlink("..", folder / "sub" / "up")  # back to the folder it is in
    os.symlink("self", folder / "self")  # a link to itself
    os.symlink(folder / "self", tmp_path / "given-loop")
    found = collect([folder, tmp_path / "given-loop"])
    assert relpaths(found.files) == ["tree/sub/a.txt"]
    kinds = {problem.path.name: problem.kind for problem in found.problems}
    assert kinds == {"up": Problem.LOOP, "self": Problem.LOOP, "given-loop": Problem.LOOP}
    for problem in found.problems:
        assert "symbolic link loop" in problem.message
        assert "no such file" not in problem.message
        assert str(problem.path) in problem.message


def test_missing_paths_broken_links_and_special_files(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    touch(folder / "ok.txt")
    os.symlink("gone.txt", folder / "broken")
    os.mkfifo(folder / "pipe")
    found = collect([tmp_path / "missing.bin", folder])
    messages = [problem.message for problem in found.problems]
    assert messages == [
        f"{tmp_path / 'missing.bin'}: no such file or folder.",
        f"{folder / 'broken'}: a symbolic link to gone.txt, which does not exist.",
        f"{folder / 'pipe'}: not a regular file or folder.",
    ]
    assert relpaths(found.files) == ["f/ok.txt"]


def test_an_empty_folder_or_one_with_only_junk_is_reported(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    touch(tmp_path / "junk" / ".DS_Store")
    found = collect([tmp_path / "empty", tmp_path / "junk"])
    assert [(p.path.name, p.kind) for p in found.problems] == [
        ("empty", Problem.EMPTY),
        ("junk", Problem.EMPTY),
    ]
    assert "has no files to upload" in found.problems[0].message


def test_an_unreadable_folder_is_reported_and_the_rest_is_walked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    touch(tmp_path / "top" / "locked" / "secret.txt")
    touch(tmp_path / "top" / "open" / "a.txt")
    real_scandir = os.scandir

    def scandir(path: os.PathLike[str]) -> object:  # root may read anything: refuse it here instead
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(folders.os, "scandir", scandir)
    found = collect([tmp_path / "top"])
    assert relpaths(found.files) == ["top/open/a.txt"]
    (problem,) = found.problems
    assert problem.kind is Problem.UNREADABLE
    assert problem.message == f"{tmp_path / 'top' / 'locked'}: the folder cannot be read (permission denied)."


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    secret = touch(tmp_path / "f" / "secret.txt")
    secret.chmod(0)
    found = collect([tmp_path / "f"])
    assert [p.message for p in found.problems] == [f"{secret}: cannot be read (permission denied)."]


def test_it_streams_10000_files_listing_folders_only_as_it_reaches_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder in range(100):
        for number in range(100):
            touch(tmp_path / "big" / f"d{folder:03d}" / f"f{number:03d}.bin")
    listed: list[str] = []
    real_scandir = os.scandir

    def scandir(path: os.PathLike[str]) -> object:
        listed.append(Path(path).name)
        return real_scandir(path)

    monkeypatch.setattr(folders.os, "scandir", scandir)
    started = time.perf_counter()
    items = walk([tmp_path / "big"])
    first = next(items)
    first_after = time.perf_counter() - started
    assert listed == ["big", "d000"]  # the first file comes before the other 99 folders are read
    rest = list(items)
    everything = time.perf_counter() - started
    assert isinstance(first, FoundFile)
    assert first.relpath == "big/d000/f000.bin"
    assert len(rest) == 9999
    assert not [item for item in rest if isinstance(item, WalkProblem)]
    assert len(listed) == 101
    print(f"first file after {first_after * 1000:.1f} ms, 10,000 files in {everything * 1000:.0f} ms")
    assert everything < 20  # a generous bound for a loaded machine; about 0.2 s here
