from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from app.core.keys import (
    DEFAULT_TEMPLATE,
    KeyTemplateError,
    check_key,
    check_template,
    join_prefix,
    render_key,
)

NOW = datetime(2024, 3, 5, 7, 8, 9)
FILE = Path("/home/ann/photos/2023/trip/IMG 001.tar.gz")


def render(template: str, **kwargs) -> str:
    return render_key(template, FILE, now=NOW, **kwargs)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (DEFAULT_TEMPLATE, "IMG 001.tar.gz"),
        ("{stem}.{ext}", "IMG 001.tar.gz"),
        ("{ext}/{stem}", "gz/IMG 001.tar"),
        ("uploads/{date}/{filename}", "uploads/2024-03-05/IMG 001.tar.gz"),
        ("{datetime}-{filename}", "20240305-070809-IMG 001.tar.gz"),
        ("{year}/{month}/{day}/{relpath}", "2024/03/05/IMG 001.tar.gz"),
        ("literal {{braces}}/{filename}", "literal {braces}/IMG 001.tar.gz"),
    ],
)
def test_builtin_placeholders(template: str, expected: str) -> None:
    assert render(template) == expected


def test_relpath_is_relative_to_the_dropped_folder() -> None:
    assert render("in/{relpath}", root=Path("/home/ann/photos")) == "in/2023/trip/IMG 001.tar.gz"
    with pytest.raises(KeyTemplateError, match="is not inside the folder"):
        render("{relpath}", root=Path("/elsewhere"))
    assert render("{filename}", root=Path("/elsewhere")) == "IMG 001.tar.gz"  # relpath not needed


def test_metadata_fields_as_placeholders() -> None:
    metadata = {"organizationId": "org-7", "objectRecordId": 42, "flag": True, "object-id": "x"}
    assert render("{organizationId}/{objectRecordId}/{flag}/{object-id}/{filename}", metadata=metadata) == (
        "org-7/42/true/x/IMG 001.tar.gz"
    )
    with pytest.raises(KeyTemplateError, match='"nested" cannot be used'):
        render("{nested}", metadata={"nested": {"a": 1}})


def test_builtins_win_over_metadata_of_the_same_name() -> None:
    assert render("{filename}", metadata={"filename": "other"}) == "IMG 001.tar.gz"


def test_unknown_placeholder_names_it_and_the_known_ones() -> None:
    with pytest.raises(KeyTemplateError) as caught:
        render("{date}/{fielname}", metadata={"organizationId": "o"})
    message = caught.value.message
    assert '"{fielname}"' in message
    assert "{filename}" in message
    assert "{relpath}" in message
    assert "metadata fields {organizationId}" in message


@pytest.mark.parametrize("template", ["{filename", "file}name", "{a{b}}", "{}", "{date:%Y}", "{filename!r}"])
def test_bad_braces_and_placeholders(template: str) -> None:
    with pytest.raises(KeyTemplateError) as caught:
        render(template)
    assert "placeholder" in caught.value.message.lower()


def test_check_template_without_metadata_accepts_any_name() -> None:
    assert check_template("{organizationId}/{date}/{filename}") == ["organizationId", "date", "filename"]
    with pytest.raises(KeyTemplateError):
        check_template("{organizationId}", fields=[])


def test_rendered_keys_are_checked() -> None:
    with pytest.raises(KeyTemplateError, match="empty folder name"):
        render(
            "{organizationId}/{objectRecordId}/{filename}",
            metadata={"organizationId": "o", "objectRecordId": ""},
        )
    with pytest.raises(KeyTemplateError, match="starts with"):
        render("/{filename}")


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "is empty"),
        ("/abs/key", 'starts with "/"'),
        ("a/../b", '".." segment'),
        ("..", '".." segment'),
        ("a/./b", '"." or ".." segment'),
        ("a\\b", "backslash"),
        ("a\nb", "control character"),
        ("a\x00b", "control character"),
        ("a\x7fb", "control character"),
        ("a//b", "empty folder name"),
        ("folder/", 'ends with "/"'),
        ("x" * 1025, "at most 1,024 bytes"),
        ("é" * 513, "at most 1,024 bytes"),
        ("bad\udce9name", "not valid text"),
    ],
)
def test_check_key_rejects(key: str, problem: str) -> None:
    with pytest.raises(KeyTemplateError, match=problem.replace("(", r"\(")):
        check_key(key)


@pytest.mark.parametrize(
    "key", ["a", "x" * 1024, "é" * 512, "a/b/c.txt", "a..b/c", ".hidden/x", "with space/ü.txt"]
)
def test_check_key_accepts(key: str) -> None:
    check_key(key)


@pytest.mark.parametrize(
    ("prefix", "name", "expected"),
    [("", "a.bin", "a.bin"), ("uploads", "a.bin", "uploads/a.bin"), ("uploads/", "/a.bin", "uploads/a.bin"),
     ("a/b//", "c/d", "a/b/c/d")],
)  # fmt: skip
def test_join_prefix(prefix: str, name: str, expected: str) -> None:
    assert join_prefix(prefix, name) == expected
