"""One JSON Schema (draft 2020-12) checked against many instances: an action's input on every
run, and the provider's answer against its output.

Two well-kept implementations, each for what it does best. jsonschema-rs compiles the schema
once (in Rust) and says whether an instance is valid some twenty times faster than the
reference implementation walks it; jsonschema, the reference, says *why* an instance is not
(the errors whose keyword and path the API reports) and has the last word: an instance the
fast check refuses is judged again by the reference, so the answer is always the reference's
when it accepts, and when it refuses, with its error. Formats are annotations for both (as
the reference checks them without a format checker).

The fast check is asked only about plain JSON (:func:`is_plain_json`): it would read a tuple
as an array and compare a huge integer as a float, where the reference sees no array and the
exact number. Its regular expressions are Rust's, the reference's Python's: a schema is
compiled for it only when each of its patterns keeps to a syntax both read alike, or read
more strictly in Rust (``$`` at the very end only, ``\\s`` without the ASCII separators), so
that it never accepts what the reference refuses (:func:`portable_pattern`). Anything else,
and a schema the fast check cannot compile, goes to the reference alone.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from jsonschema_rs import Validator

__all__ = ["SchemaCheck", "is_plain_json", "portable_pattern"]

# Integers the fast check compares exactly (it holds larger ones as floats).
_EXACT_INT = 2**53
# Escapes both engines read alike (or Rust more strictly): escaped punctuation, \d, \s.
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_PORTABLE_ESCAPES = frozenset(".-+*?^$|/\\()[]{}dsnt")
# Where Rust reads more than Python: nested classes and set operations ([[:alpha:]],
# [a&&b], [a--b], [a~~b]), groups with flags or lookaround ((?i), (?=...)).
_NOT_PORTABLE = ("[[", "&&", "--", "~~", "(?")


def portable_pattern(pattern: str) -> bool:
    """Whether Rust's regex engine accepts no string that Python's ``re`` refuses for
    ``pattern`` (see the module documentation): plain characters, classes, groups,
    alternation, quantifiers, anchors and the escapes in :data:`_PORTABLE_ESCAPES`."""
    if any(escape not in _PORTABLE_ESCAPES for escape in _ESCAPE.findall(pattern)):
        return False
    plain = _ESCAPE.sub("", pattern)
    return not any(token in plain for token in _NOT_PORTABLE)


def _portable_schema(schema: Any) -> bool:
    """Whether every ``pattern`` and ``patternProperties`` regex in ``schema`` is
    :func:`portable_pattern` (a walk over the whole document, data keywords included)."""
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pattern = node.get("pattern")
            if isinstance(pattern, str) and not portable_pattern(pattern):
                return False
            by_pattern = node.get("patternProperties")
            if isinstance(by_pattern, dict) and not all(
                portable_pattern(str(key)) for key in by_pattern
            ):
                return False
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return True


def is_plain_json(value: Any) -> bool:
    """Whether ``value`` is made only of what ``json.loads`` makes of standard JSON: dicts
    with string keys, lists, strings, booleans, finite numbers (integers within 2**53) and
    ``None``. Walks with a stack: an answer may nest as deep as the JSON parser went."""
    pending = [value]
    while pending:
        node = pending.pop()
        kind = type(node)
        if kind is str or kind is bool or node is None:
            continue
        if kind is int:
            if -_EXACT_INT <= node <= _EXACT_INT:
                continue
            return False
        if kind is float:
            if math.isfinite(node):
                continue
            return False
        if kind is dict:
            if not all(type(key) is str for key in node):
                return False
            pending.extend(node.values())
        elif kind is list:
            pending.extend(node)
        else:
            return False
    return True


class SchemaCheck:
    """``schema`` compiled on first use and kept (building a validator costs more than a
    check)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema

    @functools.cached_property
    def fast(self) -> Validator | None:
        """The compiled schema, or ``None`` when a pattern is not portable or jsonschema-rs
        cannot compile the schema (a remote ``$ref``, say: it fetches nothing): then only the
        reference checks."""
        if not _portable_schema(self.schema):
            return None
        import jsonschema_rs

        try:
            return jsonschema_rs.Draft202012Validator(
                dict(self.schema), validate_formats=False, offline=True
            )
        except (jsonschema_rs.ValidationError, ValueError, TypeError):
            return None

    @functools.cached_property
    def reference(self) -> Draft202012Validator:
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self.schema)

    def first_error(self, instance: Any) -> ValidationError | None:
        """``None`` when ``instance`` is valid, else the reference's best error for it."""
        fast = self.fast
        if fast is not None and is_plain_json(instance) and fast.is_valid(instance):
            return None
        from jsonschema.exceptions import best_match

        error: ValidationError | None = best_match(self.reference.iter_errors(instance))
        return error
