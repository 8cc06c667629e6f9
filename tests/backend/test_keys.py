"""Key rules and Content-Type by extension."""

from __future__ import annotations

import pytest

from backend.apigw import ApiError
from backend.keys import check_key, check_prefix, content_type_for, key_problem


@pytest.mark.parametrize(
    "key", ["image/path.jpg", "a", "deep/er/x.tar.gz", "spaces and ünïcode/ok.png", "x" * 1024, "a..b/c..d"]
)
def test_good_keys(key: str) -> None:
    assert key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("", "empty"),
        ("é" * 513, "1024 bytes"),
        ("/etc/passwd", 'starts with "/"'),
        ("a\\b.jpg", "backslash"),
        ("a/../b.jpg", '".."'),
        ("../b.jpg", '".."'),
        ("a/./b.jpg", '"."'),
        ("a/..", '".."'),
        ("line\nbreak.jpg", "control character"),
        ("nul\x00.jpg", "control character"),
        ("folder/", "folder"),
    ],
)
def test_bad_keys(key: str, says: str) -> None:
    problem = key_problem(key)
    assert problem is not None
    assert says in problem
    with pytest.raises(ApiError) as caught:
        check_key(key, field="imageKey")
    assert caught.value.status == 400
    assert caught.value.message.startswith('"imageKey" ')


def test_prefix_is_enforced_with_403() -> None:
    assert check_key("alice/x.jpg", field="k", prefix="alice/") == "alice/x.jpg"
    with pytest.raises(ApiError) as caught:
        check_key("bob/x.jpg", field="k", prefix="alice/")
    assert caught.value.status == 403
    assert "alice/" in caught.value.message


@pytest.mark.parametrize("prefix", ["/root/", "a/../", "back\\slash/"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        check_prefix(prefix)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a/photo.JPG", "image/jpeg"),
        ("v.mp4", "video/mp4"),
        ("v.mkv", "video/x-matroska"),
        ("backup.tar.gz", "application/gzip"),
        ("doc.json", "application/json"),
        ("noextension", "application/octet-stream"),
        ("weird.zzz", "application/octet-stream"),
    ],
)
def test_content_type_by_extension(key: str, expected: str) -> None:
    assert content_type_for(key) == expected


def test_requested_content_type_wins_and_is_checked() -> None:
    assert content_type_for("a.jpg", "image/x-custom; q=1") == "image/x-custom; q=1"
    with pytest.raises(ApiError, match="media type"):
        content_type_for("a.jpg", "not a type")
