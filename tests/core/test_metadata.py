from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.metadata import (
    MAX_METADATA_BYTES,
    REQUIRED_FIELDS,
    MetadataError,
    build_payload,
    load_metadata_argument,
    parse_metadata,
    validate_metadata,
)

VALID = '{"organizationId": "org-7", "objectRecordId": 42, "extra": {"a": [1, 2]}}'


def messages(text: str, required: tuple[str, ...] = REQUIRED_FIELDS) -> list[str]:
    return [error.message for error in validate_metadata(text, required)]


def test_valid_metadata_parses() -> None:
    assert validate_metadata(VALID) == []
    assert parse_metadata(VALID) == {"organizationId": "org-7", "objectRecordId": 42, "extra": {"a": [1, 2]}}


def test_syntax_error_has_line_column_and_plain_words() -> None:
    text = '{\n  "organizationId": "org-7",\n  "objectRecordId": "r" "x": 1\n}'
    with pytest.raises(MetadataError) as caught:
        parse_metadata(text)
    error = caught.value
    assert (error.line, error.column) == (3, 25)
    assert error.message == "Line 3, column 25: expected ',' or '}'"
    assert str(error) == error.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1 2]", "Line 1, column 4: expected ',' or ']'"),
        ('{"a" 1}', "expected ':' after the field name"),
        ('{"a": 1,}', "remove the comma before '}'"),
        ("[1,]", "remove the comma before ']'"),
        ("{'a': 1}", "use double quotes"),
        ('{"a": True}', "write true instead of True"),
        ('{"a": None}', "write null instead of None"),
        ('{"a": 1} x', "unexpected text after the end"),
        ('{"a": "x', "not closed with a double quote"),
        ('{"a": "x\ny"}', "must be written as \\n"),
        ('{"a": "\\q"}', "invalid escape"),
        ('{"a": ', "the text ends too early"),
        ('{"a": }', "expected a value"),
        ('{"a": NaN}', "NaN is not valid JSON"),
    ],
)
def test_syntax_errors_in_plain_words(text: str, expected: str) -> None:
    found = messages(text)
    assert len(found) == 1
    assert expected in found[0]
    assert "Expecting" not in found[0]


def test_empty_text() -> None:
    (error,) = validate_metadata("  \n")
    assert "empty" in error.message
    assert error.line is None


@pytest.mark.parametrize(
    ("text", "kind"), [("[]", "a list"), ('"org"', "a text"), ("12", "a number"), ("null", "null")]
)
def test_must_be_an_object(text: str, kind: str) -> None:
    example = '{"organizationId": "org-1", "objectRecordId": "rec-1"}'
    assert messages(text) == [f"The metadata must be a JSON object such as {example}, not {kind}."]


def test_all_field_problems_are_listed_at_once() -> None:
    found = messages('{"organizationId": " ", "objectRecordId": [1], "imageKey": "k", "x": 1, "x": 2}')
    assert found == [
        'The field "x" appears more than once; keep only one.',
        'The field "organizationId" must not be empty.',
        'The field "objectRecordId" must be a text or a number, not a list.',
        'Remove the field "imageKey": each file\'s key is set by the key template instead.',
    ]
    assert all(error.line is None for error in validate_metadata('{"imageKey": 1}'))


def test_missing_required_fields_and_custom_required() -> None:
    assert messages("{}") == [
        'The field "organizationId" is required.',
        'The field "objectRecordId" is required.',
    ]
    assert messages('{"organizationId": true, "objectRecordId": 0}') == [
        'The field "organizationId" must be a text or a number, not true.'
    ]
    assert messages('{"projectId": "p"}', required=("projectId",)) == []
    assert messages("{}", required=()) == []


def test_size_is_bounded() -> None:
    small = {"organizationId": "o", "objectRecordId": "r", "blob": "x" * (MAX_METADATA_BYTES - 100)}
    assert validate_metadata(json.dumps(small)) == []
    big = {**small, "blob": "x" * MAX_METADATA_BYTES}
    (error,) = validate_metadata(json.dumps(big))
    assert "too large" in error.message
    assert f"{MAX_METADATA_BYTES:,}" in error.message


def test_parse_raises_the_first_problem() -> None:
    with pytest.raises(MetadataError, match='"organizationId" is required'):
        parse_metadata('{"objectRecordId": "r", "imageKey": "k"}')


def test_cli_argument_inline_and_from_a_file(tmp_path: Path) -> None:
    assert load_metadata_argument(VALID)["organizationId"] == "org-7"
    path = tmp_path / "meta.json"
    path.write_text("\ufeff" + VALID, encoding="utf-8")  # a BOM, as some editors write
    assert load_metadata_argument(f"@{path}")["objectRecordId"] == 42


def test_cli_argument_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(MetadataError, match=r"Cannot read the metadata file .*nope\.json: No such file"):
        load_metadata_argument(f"@{missing}")
    with pytest.raises(MetadataError, match="Cannot read the metadata file"):
        load_metadata_argument(f"@{tmp_path}")  # a folder
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "organizationId": "o",\n}', encoding="utf-8")
    with pytest.raises(MetadataError) as caught:
        load_metadata_argument(f"@{bad}")
    assert caught.value.message.startswith(f"In {bad}: Line 3, column 1:")
    assert (caught.value.line, caught.value.column) == (3, 1)


def test_build_payload_adds_the_key_without_touching_the_input() -> None:
    metadata = {"organizationId": "org-7", "objectRecordId": "rec-42"}
    assert build_payload(metadata, "image/path.jpg") == {
        "plugin": "upload-s3",
        "pluginPayload": {
            "organizationId": "org-7",
            "objectRecordId": "rec-42",
            "imageKey": "image/path.jpg",
        },
    }
    assert "imageKey" not in metadata


def test_a_comma_missing_at_the_end_of_a_line_is_pointed_at_that_line() -> None:
    text = '{\n  "organizationId": "org-7"\n  "objectRecordId": "rec-1"\n}'
    (problem,) = validate_metadata(text)
    assert (problem.line, problem.column) == (2, 28)
    assert problem.message == "Line 2, column 28: a ',' is missing at the end of this line"
