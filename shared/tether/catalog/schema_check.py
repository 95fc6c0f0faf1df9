"""One JSON Schema (draft 2020-12) checked against many instances: an action's input on every
run, and the provider's answer against its output.

Two well-kept implementations, each for what it does best. jsonschema-rs compiles the schema
once (in Rust) and says whether an instance is valid some twenty times faster than the
reference implementation walks it; jsonschema, the reference, says *why* an instance is not
(the errors whose keyword and path the API reports) and has the last word: an instance the
fast check refuses is judged again by the reference. Formats are annotations for both (as
the reference checks them without a format checker).

The fast check must never accept what the reference refuses, and a keyword under ``not``,
``oneOf``, ``if`` or a ``patternProperties`` key turns "refuses more" into "accepts more": so
it is asked only where both read the schema and the instance *alike*, and everything else
goes to the reference alone:

- plain JSON only (:func:`is_plain_json`): it would read a tuple as an array, compare a huge
  integer as a float, and cannot take a string holding a lone UTF-16 surrogate (it encodes
  strings as UTF-8 and raises), which ``json.loads`` makes of ``"\\ud800"``;
- a schema that is plain JSON itself, whose ``multipleOf`` values are integers (for a
  fraction such as 0.01 jsonschema-rs accepts 0.07, which the reference's float division
  refuses);
- patterns of a syntax both engines read alike (:func:`portable_pattern`). jsonschema-rs
  reads patterns as ECMA-262 does, the reference as Python's ``re``: ``\\d`` is ASCII for one
  and Unicode for the other, ``\\s`` holds U+FEFF for one and U+001C-U+001F and U+0085 for
  the other, ``.`` stops at ``\\r``, U+2028 and U+2029 for one only. Those are left out, as
  is any escape, group syntax or class shape whose meaning is not the same in both;
- ``$``: Python's also matches before a final line feed, ECMA-262's only at the very end, so
  for a schema with ``$`` in a pattern an instance holding a string (or key) that ends with a
  line feed goes to the reference. The reference reads a ``pattern``'s ``$`` as ECMA-262
  does (:func:`ecma_end_anchors`: ``"text/plain\n"`` does not match ``^…$``), as JSON Schema
  says patterns are read; a ``patternProperties`` key keeps Python's reading (no shipped
  schema has one).

Anything the fast check raises, and a schema it cannot compile, goes to the reference too.
The pattern scan is written here: no library says which syntax two regex dialects read
alike, and a short list of what is allowed is easier to trust than one of what is not.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tether.domain.bounded_json import LONE_SURROGATE

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from jsonschema_rs import Validator

__all__ = [
    "MAX_FAST_DEPTH",
    "SchemaCheck",
    "ecma_end_anchors",
    "ecma_validator_class",
    "is_plain_json",
    "portable_pattern",
    "reference_validator",
]

log = logging.getLogger(__name__)

# Integers the fast check compares exactly (it holds larger ones as floats).
_EXACT_INT = 2**53
# Deeper instances go to the reference validator (see is_plain_json); no shipped schema or
# provider answer it checks comes near.
MAX_FAST_DEPTH = 64
# Escapes both engines read as the same one character: escaped punctuation, \n and \t.
# Not \d, \s, \w, \b (their classes differ), nor \r, \f, \v, \x, \u, \0, \1 (not proven).
_PORTABLE_ESCAPES = frozenset(".-+*?^$|/\\()[]{}nt")
# {m}, {m,} and {m,n}: the counted repetitions both read alike ({,n} is Python's alone).
_COUNT = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
# Inside a class, Python warns and Rust reads set operations or nested classes.
_CLASS_OPERATORS = ("&&", "--", "~~", "||")


def _class_end(pattern: str, start: int) -> int | None:
    """Where the character class opening at ``start`` ends (after its ``]``), or ``None``
    when it is not portable: ``[]...]`` and ``[^]...]`` (a literal ``]`` for Python, an empty
    class for ECMA-262), a ``[`` inside, a set operator, an escape outside the portable ones."""
    index = start + 1
    if pattern.startswith("^", index):
        index += 1
    if pattern.startswith("]", index):
        return None
    body_start = index
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if pattern[index + 1 : index + 2] not in _PORTABLE_ESCAPES:  # "" is not in it
                return None
            index += 2
            continue
        if char == "[":
            return None
        if char == "]":
            body = pattern[body_start:index]
            if any(operator in body for operator in _CLASS_OPERATORS):
                return None
            return index + 1
        index += 1
    return None


def portable_pattern(pattern: str) -> bool:
    """Whether Rust's ECMA-262 reading of ``pattern`` and Python's ``re`` match exactly the
    same strings, given none ends with a line feed (see the module documentation): literal
    characters, classes, capturing groups, alternation, the quantifiers ``* + ? {m} {m,}
    {m,n}`` after a character, class or group (lazy or not), ``^``, ``$`` and the escapes in
    :data:`_PORTABLE_ESCAPES`. Not ``.``, ``(?...)``, possessive quantifiers, a quantified
    anchor, a stray ``]`` or ``}``, nor a pattern Python cannot compile."""
    index = 0
    # What came last: "atom" (may be quantified), "quantifier" (may be made lazy), other.
    last = ""
    while index < len(pattern):
        char = pattern[index]
        kind = "atom"
        if char == "\\":
            if pattern[index + 1 : index + 2] not in _PORTABLE_ESCAPES:  # "" is not in it
                return False
            index += 2
        elif char == "[":
            end = _class_end(pattern, index)
            if end is None:
                return False
            index = end
        elif char in "*+?{":
            count = _COUNT.match(pattern, index) if char == "{" else None
            if char == "{" and count is None:
                return False
            if last == "atom":
                kind = "quantifier"
            elif last == "quantifier" and char == "?":
                kind = "lazy"
            else:
                return False
            index = count.end() if count is not None else index + 1
        elif char in ".]}":
            return False
        else:
            if pattern.startswith("(?", index):
                return False
            if char in "(|^$":
                kind = "open"
            index += 1
        last = kind
    try:  # after the scan, which leaves out the class shapes Python warns about
        re.compile(pattern)
    except re.error:
        return False
    return True


def ecma_end_anchors(pattern: str) -> str:
    """``pattern`` with each ``$`` anchor (not escaped, not in a class) written ``\\Z``: the
    very end of the text, as ECMA-262 reads ``$`` without the ``m`` flag, where Python's
    ``$`` also matches before a final line feed."""
    out: list[str] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            # A "]" first in the class (or after "^") is a literal for Python.
            if char == "]" and pattern[index - 1] != "[" and pattern[index - 2 : index] != "[^":
                in_class = False
        elif char == "[":
            in_class = True
        elif char == "$":
            out.append("\\Z")
            index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


@functools.lru_cache(maxsize=512)
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(ecma_end_anchors(pattern))


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """The ``pattern`` keyword, its ``$`` read as ECMA-262 reads it."""
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _objects(schema: Any) -> Iterator[dict[str, Any]]:
    """Every object in ``schema``, at any depth (data keywords included)."""
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            yield node
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def _patterns(schema: Any) -> Iterator[str]:
    """Every ``pattern`` and ``patternProperties`` regex in ``schema``."""
    for node in _objects(schema):
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            yield pattern
        by_pattern = node.get("patternProperties")
        if isinstance(by_pattern, dict):
            yield from (str(key) for key in by_pattern)


def _integer_multiples(schema: Any) -> bool:
    """Whether every numeric ``multipleOf`` in ``schema`` is an integer."""
    for node in _objects(schema):
        factor = node.get("multipleOf")
        if isinstance(factor, int | float) and type(factor) is not int:
            return False
    return True


def is_plain_json(value: Any, *, final_newline: bool = True) -> bool:
    """Whether ``value`` is made only of what ``json.loads`` makes of standard JSON in
    UTF-8: dicts with string keys, lists, strings without lone surrogates, booleans, finite
    numbers (integers within 2**53) and ``None``, nested at most :data:`MAX_FAST_DEPTH`
    levels. With ``final_newline=False`` no string or key may end with a line feed either.
    Walks level by level, not by recursion: an answer may nest as deep as the JSON parser
    went. The depth bound keeps the compiled validator, which recurses on the thread's
    stack, away from instances deep enough to exhaust a small one; deeper ones are left to
    the reference."""
    level = [value]
    depth = 0
    while level:
        depth += 1
        if depth > MAX_FAST_DEPTH:
            return False
        below: list[Any] = []
        for node in level:
            kind = type(node)
            if kind is str:
                if (node.isascii() or not LONE_SURROGATE.search(node)) and (
                    final_newline or node[-1:] != "\n"
                ):
                    continue
                return False
            if kind is bool or node is None:
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
                for key in node:
                    if type(key) is not str:
                        return False
                    if not (key.isascii() or not LONE_SURROGATE.search(key)):
                        return False
                    if not final_newline and key[-1:] == "\n":
                        return False
                below.extend(node.values())
            elif kind is list:
                below.extend(node)
            else:
                return False
        level = below
    return True


class SchemaCheck:
    """``schema`` compiled on first use and kept (building a validator costs more than a
    check)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema

    @functools.cached_property
    def _final_newline(self) -> bool:
        """Whether an instance's strings may end with a line feed on the fast path: not when
        a pattern has a ``$`` (see the module documentation)."""
        return not any("$" in pattern for pattern in _patterns(self.schema))

    @functools.cached_property
    def fast(self) -> Validator | None:
        """The compiled schema, or ``None`` when the schema is not plain JSON, has a
        fractional ``multipleOf`` or a pattern that is not portable, or jsonschema-rs cannot
        compile it (a remote ``$ref``, say: it fetches nothing): then only the reference
        checks."""
        if not (
            is_plain_json(self.schema)
            and _integer_multiples(self.schema)
            and all(portable_pattern(pattern) for pattern in _patterns(self.schema))
        ):
            return None
        import jsonschema_rs

        try:
            return jsonschema_rs.Draft202012Validator(
                dict(self.schema), validate_formats=False, offline=True
            )
        except Exception:  # noqa: BLE001 - any schema it cannot take is the reference's
            return None

    @functools.cached_property
    def reference(self) -> Draft202012Validator:
        return reference_validator(self.schema)

    def _fast_accepts(self, instance: Any) -> bool:
        """Whether the fast check may be asked about ``instance`` and accepts it."""
        fast = self.fast
        if fast is None or not is_plain_json(instance, final_newline=self._final_newline):
            return False
        try:
            return fast.is_valid(instance)
        except Exception as exc:  # noqa: BLE001 - whatever it cannot read, the reference judges
            log.warning("the fast schema check raised %s; the reference judges", type(exc).__name__)
            return False

    def first_error(self, instance: Any) -> ValidationError | None:
        """``None`` when ``instance`` is valid, else the reference's best error for it."""
        if self._fast_accepts(instance):
            return None
        from jsonschema.exceptions import best_match

        error: ValidationError | None = best_match(self.reference.iter_errors(instance))
        return error


def reference_validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """The reference's validator of ``schema``: jsonschema's draft 2020-12, ``pattern`` read
    as ECMA-262 reads it (:func:`ecma_end_anchors`)."""
    return ecma_validator_class()(schema)


@functools.cache
def ecma_validator_class() -> type[Draft202012Validator]:
    """jsonschema's draft 2020-12 validator with the ``pattern`` keyword read as ECMA-262
    (what every caller-facing schema of Tether is checked with)."""
    from jsonschema import Draft202012Validator, validators

    extended: type[Draft202012Validator] = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": _ecma_pattern}
    )
    return extended
