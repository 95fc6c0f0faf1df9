"""An action schema checked fast and exactly: jsonschema-rs answers "valid?" for plain JSON
under portable patterns, and jsonschema (the reference) judges everything else and gives
the error; the answer is always the reference's."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tether.catalog.action_catalog import load_actions
from tether.catalog.schema_check import (
    MAX_FAST_DEPTH,
    SchemaCheck,
    ecma_end_anchors,
    is_plain_json,
    portable_pattern,
    reference_validator,
)

CONTACT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "tags"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
        "score": {"type": "integer", "maximum": 10},
        "ratio": {"type": "number"},
        "email": {"type": "string", "format": "email"},
    },
}


@pytest.mark.parametrize(
    "instance",
    [
        {"id": "12", "tags": []},
        {"id": "12", "tags": ["a", "abc"], "score": 10, "ratio": 0.5},
        {"id": "12", "tags": [], "email": "not an address"},  # formats are annotations
        {"id": "12", "tags": [], "score": 10.0},  # a whole float is an integer
        {"id": "12\n", "tags": []},  # ECMA-262's $ does not match before a final newline
        {"id": "x1", "tags": []},
        {"id": "12", "tags": ["abcd"]},
        {"id": "12", "tags": [], "score": True},  # a boolean is no integer
        {"id": "12", "tags": [], "score": 11},
        {"id": "12", "tags": [], "extra": 1},
        {"tags": []},
        {"id": "12", "tags": ("a",)},  # a tuple is no JSON array for the reference
        {"id": "12", "tags": [], "score": 2**64},  # beyond the fast check's exact integers
        {"id": "12", "tags": [], "ratio": float("nan")},
        [],
    ],
)
def test_the_answer_is_the_references(instance: Any) -> None:
    check = SchemaCheck(CONTACT)
    assert check.fast is not None
    reference = reference_validator(CONTACT)
    error = check.first_error(instance)
    assert (error is None) == reference.is_valid(instance)
    if error is not None:
        assert error.message in {e.message for e in reference.iter_errors(instance)}


def test_a_pattern_outside_the_portable_syntax_is_left_to_the_reference() -> None:
    # Python's \w is Unicode: "é" is a word character for the reference.
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^\\w+$"}}}
    check = SchemaCheck(schema)
    assert check.fast is None
    assert check.first_error({"name": "José"}) is None
    assert check.first_error({"name": "a b"}) is not None


@pytest.mark.parametrize(
    ("pattern", "portable"),
    [
        ("^cus_[A-Za-z0-9]+$", True),
        ("^[0-9]+(\\.[0-9]+)?$", True),
        ("^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$", True),
        # \d and \s are Unicode classes for Python, ECMA-262's (ASCII digits; spaces with
        # U+FEFF, without U+001C-U+001F and U+0085) for Rust
        ("^\\d{4}\\s?$", False),
        ("[^\\d]", False),
        ("[^\\s]", False),
        ("^a.b$", False),  # ECMA-262's "." also stops at \r, U+2028 and U+2029
        ("^[]a]$", False),  # a literal "]" for Python, an empty class for ECMA-262
        ("^a{,3}$", False),  # {,3} is Python's alone
        ("^a*+$", False),  # possessive for Python 3.11
        ("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", True),
        ("^x{1,2}?[\\-.$]\\t$", True),
        ("^\\w+$", False),  # Rust's word characters include marks Python's exclude
        ("^\\S+$", False),
        ("a\\b", False),
        ("(?i)abc", False),
        ("(?=a)a", False),
        ("[a&&b]", False),
        ("[a--b]", False),
        ("(a)\\1", False),
    ],
)
def test_portable_patterns(pattern: str, portable: bool) -> None:
    assert portable_pattern(pattern) is portable


def test_a_schema_the_fast_check_cannot_compile_is_checked_by_the_reference() -> None:
    schema = {"type": "object", "properties": {"id": {"type": "string", "pattern": "^a\\Z"}}}
    check = SchemaCheck(schema)
    assert check.fast is None  # \Z is not portable
    assert check.first_error({"id": "b"}) is not None
    assert check.first_error({"id": "a"}) is None


def test_plain_json() -> None:
    assert is_plain_json({"a": [1, 2.5, None, True, "x", {"b": -(2**53)}]})
    for value in ({"a": (1,)}, {1: "a"}, {"a": 2**53 + 1}, float("inf"), {"a": b"x"}):
        assert not is_plain_json(value)


def test_deep_instances_are_left_to_the_reference() -> None:
    """The compiled validator recurses on the thread's stack: past MAX_FAST_DEPTH levels an
    instance is not given to it, and the reference still answers."""

    def nested(levels: int) -> Any:
        value: Any = "leaf"
        for _ in range(levels - 1):
            value = [value]
        return value

    assert is_plain_json(nested(MAX_FAST_DEPTH))
    assert not is_plain_json(nested(MAX_FAST_DEPTH + 1))
    assert not is_plain_json({"a": nested(MAX_FAST_DEPTH)})
    check = SchemaCheck({"type": "array"})
    assert check.fast is not None
    assert check.first_error(nested(900)) is None
    assert check.first_error({"deep": nested(900)}) is not None


def test_every_packaged_action_schema_is_checked_fast() -> None:
    for provider, actions in load_actions().items():
        for name, action in actions.items():
            for label, check in (("input", action.input_check), ("output", action.output_check)):
                assert check.fast is not None, f"{provider}.{name} {label}"


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^[a-z]+$", "abc", True),
        ("^[a-z]+$", "abc\n", False),  # Python's own "$" matches here; ECMA-262's does not
        ("^[a-z]+$\n?", "abc\n", False),
        ("^a\\$$", "a$", True),  # an escaped "$" is a dollar sign
        ("^[$]+$", "$$", True),  # so is one in a class
        ("^[]$]+$", "]$", True),  # "]" first in a class is a literal (Python)
        ("^[^]$]+$", "ab", True),
        ("^[^]$]+$", "a$", False),
        ("^a\\\\$", "a\\", True),  # an escaped backslash, then the anchor
        ("^a\\\\$", "a\\\n", False),
        ("b$|^a$", "a\n", False),
    ],
)
def test_a_patterns_end_anchor_is_read_as_ecma_262_reads_it(
    pattern: str, text: str, matches: bool
) -> None:
    assert bool(re.search(ecma_end_anchors(pattern), text)) is matches
    check = SchemaCheck({"type": "string", "pattern": pattern})
    assert (check.first_error(text) is None) is matches
