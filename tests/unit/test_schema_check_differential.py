"""The fast schema check against the reference, over a fixed corpus of schemas and values
where jsonschema-rs and jsonschema are known to read things differently: regex classes
(\\d, \\s, their negations, ``.``, ``$`` before a final line feed), lone surrogates,
fractional ``multipleOf``, numeric equality in ``const``/``enum``, formats, and the schemas
the catalog ships. The reference is jsonschema with ``pattern``'s ``$`` read as ECMA-262
reads it (``test_schema_check.py`` checks that reading). Each pattern is tried where a looser
reading would accept more (``not``, ``patternProperties``) as well as where it would refuse
more. The module's answer must be the reference's, and nothing may raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tether.catalog.action_catalog import load_actions
from tether.catalog.schema_check import SchemaCheck, reference_validator

STRINGS = [
    "",
    "a",
    "ab",
    "aaa",
    "x",
    "xx",
    "1234",
    "1234\ufeff",
    "12\n",
    "a\n",
    "ab\n",
    "\n",
    "\t",
    " ",
    "a\rb",
    "a\r",
    "a\u2028b",
    "\u2029",
    "\ufeff",
    "\x1c",
    "\x1f",
    "\x85",
    "\xa0",
    "\u3000",
    "٣",
    "١٢٣٤",
    "é",
    "e\u0301",
    "é\n",
    "\U0001f600",
    "\U0001f601",
    "\ud800",
    "a\udfff",
    "\ud83d\ude00",
    "]",
    "-",
    ".",
    "$",
    "a{,3}",
    "cus_1",
    "cus_1\n",
    "2024-01-31",
    "USD",
    "text/plain",
    "12.5",
    "customer",
    "not an address",
    "ann@example.com",
]
NUMBERS: list[Any] = [
    0,
    1,
    -1,
    3,
    6,
    7,
    2**53,
    -(2**53),
    2**53 + 1,
    2**64,
    0.0,
    -0.0,
    1.0,
    0.07,
    0.1,
    0.3,
    1.15,
    7.5,
    12.5,
    5e-324,
    1e17,
    1e308,
    float("nan"),
    float("inf"),
]
OTHERS: list[Any] = [
    None,
    True,
    False,
    [],
    {},
    [1, 1.0],
    [1, True],
    [0, False],
    [{"a": 1}, {"a": 1.0}],
    ("a",),
    {"a": ["\ud800"]},
    {"\ud800": 1},
    {1: "a"},
    b"a",
]
VALUES: list[Any] = [*STRINGS, *NUMBERS, *OTHERS]

PATTERNS = [
    "^\\d{4}\\s?$",
    "^\\d+$",
    "^\\s$",
    "\\s",
    "[^\\d]",
    "[^\\s]",
    "^[^\\d]+$",
    "^[^\\s]+$",
    "\\S",
    "\\D",
    "^\\w+$",
    "^a.b$",
    "^.+$",
    "^a$",
    "a$",
    "^[a-z]*$",
    "^[^a-z]*$",
    "^[]a]$",
    "^[^]a]$",
    "^a{,3}$",
    "^x{2,}$",
    "^x{1,2}?$",
    "^[\\U0001f600-\\U0001f601]$",
    "^[😀-😁]$",
    "é+",
    "^[\\-\\.$]$",
    "\\t|\\n",
    "(ab)+$",
    "^a\\Z",
    "^[0-9]+$",
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$",
    "^[0-9]+(\\.[0-9]+)?$",
    "^cus_[A-Za-z0-9]+$",
    "^[A-Z]{3}$",
]


def _pattern_schemas(pattern: str) -> list[dict[str, Any]]:
    return [
        {"type": "string", "pattern": pattern},
        {"not": {"type": "string", "pattern": pattern}},
        {"type": "object", "patternProperties": {pattern: {"type": "integer"}}},
        {"type": "object", "propertyNames": {"pattern": pattern}},
        {"oneOf": [{"type": "string", "pattern": pattern}, {"type": "string", "maxLength": 1}]},
    ]


OTHER_SCHEMAS: list[dict[str, Any]] = [
    {"const": "customer"},
    {"const": "\ufeff"},
    {"not": {"const": "a"}},
    {"enum": ["a", "\ufeff", "é", 1, None]},
    {"not": {"enum": ["a", "é", 1.0]}},
    {"const": 1},
    {"const": [1, {"a": 0}]},
    {"enum": [False, 0.0, [True]]},
    {"uniqueItems": True},
    {"type": "string", "maxLength": 1},
    {"type": "string", "minLength": 2},
    {"not": {"type": "string", "maxLength": 1}},
    {"type": "integer"},
    {"type": "number", "maximum": 2**53, "exclusiveMinimum": -(2**53)},
    {"type": "number", "exclusiveMaximum": 2**53 + 1},
    {"multipleOf": 0.01},
    {"multipleOf": 0.1},
    {"multipleOf": 2.0},
    {"not": {"multipleOf": 0.01}},
    {"multipleOf": 3},
    {"not": {"multipleOf": 3}},
    {"multipleOf": 1},
    {"type": "string", "format": "email"},
    {"type": "string", "format": "date-time"},
    {"type": "string", "format": "uuid"},
    {"type": "string", "contentEncoding": "base64", "contentMediaType": "application/json"},
]


def _catalog_schemas() -> list[dict[str, Any]]:
    return [
        schema
        for actions in load_actions().values()
        for action in actions.values()
        for schema in (action.input, action.output)
    ]


def _instances(schema: dict[str, Any]) -> list[Any]:
    """The corpus, as values and as the values and keys of an object, and under each of the
    schema's top-level properties."""
    instances: list[Any] = [*VALUES, *({value: "x"} for value in STRINGS)]
    instances.extend({"a": value} for value in VALUES)
    for name in schema.get("properties") or {}:
        instances.extend({name: value} for value in VALUES)
    return instances


def _outcome(judge: Callable[[], bool]) -> bool | str:
    """``judge()``, or the name of what it raised (the reference itself raises on some
    values that are no JSON, such as an integer key under ``patternProperties``)."""
    try:
        return judge()
    except Exception as exc:  # noqa: BLE001 - compared with the reference's outcome
        return type(exc).__name__


def _agree(schema: dict[str, Any]) -> list[str]:
    check = SchemaCheck(schema)
    reference = reference_validator(schema)
    disagreements = []
    for instance in _instances(schema):
        answer = _outcome(lambda: check.first_error(instance) is None)  # noqa: B023
        expected = _outcome(lambda: reference.is_valid(instance))  # noqa: B023
        if answer != expected:
            disagreements.append(f"{schema!r}: {instance!r} -> {answer}, not {expected}")
    return disagreements


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_are_read_as_the_reference_reads_them(pattern: str) -> None:
    assert [d for schema in _pattern_schemas(pattern) for d in _agree(schema)] == []


@pytest.mark.parametrize("schema", OTHER_SCHEMAS, ids=repr)
def test_keywords_answer_as_the_reference(schema: dict[str, Any]) -> None:
    assert _agree(schema) == []


def test_the_catalogs_schemas_answer_as_the_reference() -> None:
    assert [d for schema in _catalog_schemas() for d in _agree(schema)] == []


def test_the_corpus_reaches_the_fast_check() -> None:
    """The corpus is not judged by the reference alone: plain values under portable
    schemas are the fast check's to answer."""
    fast = [schema for schema in OTHER_SCHEMAS if SchemaCheck(schema).fast is not None]
    assert {"multipleOf": 3} in fast
    assert {"const": "customer"} in fast
    portable = [p for p in PATTERNS if SchemaCheck({"pattern": p}).fast is not None]
    assert "^[0-9]+$" in portable
    assert "^[a-z]*$" in portable
