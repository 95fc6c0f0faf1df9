"""JSON from callers, decoded within limits: every value Tether accepts can be stored, read
back by every reader and sent again as valid JSON.

Python's :func:`json.loads` is more lenient than the JSON it must produce later:

- it accepts ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, RFC 8259 section 6) and turns
  out-of-range numbers such as ``1e400`` into ``inf``, which no JSON encoder may emit again;
- it accepts lone UTF-16 surrogates (``"\\ud800"``): RFC 8259 section 8.2 leaves their meaning
  unpredictable, and they cannot be encoded as UTF-8, so they fail later in an HTTP client, a
  log line or a backend;
- it nests as deep as the interpreter's recursion allows (about 1,000), while pydantic's JSON
  parser stops at 200: a record stored 250 levels deep could never be read back.

:func:`loads_bounded` refuses all of these with :class:`~tether.domain.errors.InvalidRequest`
(a 400): ``JSON_TOO_DEEP`` past :data:`MAX_DEPTH` nested arrays/objects, ``JSON_TOO_LARGE``
past :data:`MAX_ITEMS` members of one array or object or :data:`MAX_STRING_CHARS` characters
in one string (keys included), ``INVALID_JSON`` otherwise. Messages never quote the input.
:func:`loads_finite` is the lenient half for JSON Tether did not ask for (a provider's
answer): no size limits, but still no value that could not be sent on as JSON. It keeps lone
surrogates; the one rule for them in a provider's JSON is here:

- :func:`holds_lone_surrogate` tells a value that must be text (an action's output, which is
  stored, audited and answered; a page cursor; a webhook's event id, type or route), which is
  then refused alone with a code or taken as absent, never echoed;
- :func:`utf8_of_json` (through :func:`escape_lone_surrogates`) keeps data passed on as JSON
  text (a synced record's canonical JSON, a webhook batch item): the escape ``\\ud800``, valid
  UTF-8, same value.
  Answers are encoded ASCII-only (``json.dumps``), which writes the same escape;
- :func:`replace_lone_surrogates` makes a copy that must be valid Unicode (a webhook event's
  data, sent through pydantic, which cannot encode them) where the original is kept as sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from tether.domain.errors import InvalidRequest

__all__ = [
    "LONE_SURROGATE",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_STRING_CHARS",
    "JsonTooDeep",
    "NotFiniteJson",
    "escape_lone_surrogates",
    "holds_lone_surrogate",
    "loads_bounded",
    "loads_finite",
    "replace_lone_surrogates",
    "utf8_of_json",
]

MAX_DEPTH = 32
"""Nested arrays and objects, the outermost one counting as 1."""

MAX_ITEMS = 10_000
"""Members of one array or object."""

MAX_STRING_CHARS = 100_000
"""Characters of one string or object key."""

# json.loads joins a valid surrogate pair into one character: any left over is a lone half.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""A lone UTF-16 surrogate in a decoded string (what UTF-8 cannot hold)."""
# A \uXXXX escape that decodes to a surrogate (paired or not): only then are strings scanned.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


_NOT_FINITE = "NaN, Infinity and numbers out of range are not JSON"


class NotFiniteJson(ValueError):
    """:func:`loads_finite`'s refusal of NaN, Infinity or a number out of range."""


class JsonTooDeep(ValueError):
    """:func:`loads_finite`'s refusal of nesting past the interpreter's recursion limit."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotFiniteJson(_NOT_FINITE)
    return value


def _no_constant(_name: str) -> NoReturn:
    raise NotFiniteJson(_NOT_FINITE)


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code="INVALID_JSON")


def _too_deep() -> InvalidRequest:
    return InvalidRequest(
        f"the JSON nests deeper than {MAX_DEPTH} arrays or objects", code="JSON_TOO_DEEP"
    )


def _too_large(what: str) -> InvalidRequest:
    return InvalidRequest(what, code="JSON_TOO_LARGE")


def _long() -> InvalidRequest:
    return _too_large(f"a JSON string is longer than {MAX_STRING_CHARS} characters")


def _lone() -> InvalidRequest:
    return _invalid("a JSON string holds a lone UTF-16 surrogate (\\ud800-\\udfff)")


def _check(value: Any, *, surrogates: bool) -> None:
    """Walk ``value`` with a stack, not recursion (its depth is what is being checked).
    ``surrogates``: whether the text had an escape that may have decoded to one, so strings
    need scanning for them (a regex per string costs more than the rest of the walk)."""
    if type(value) is str:
        if len(value) > MAX_STRING_CHARS:
            raise _long()
        if surrogates and LONE_SURROGATE.search(value):
            raise _lone()
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise _invalid(_NOT_FINITE)
        return
    if type(value) is not dict and type(value) is not list:
        return
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if len(node) > MAX_ITEMS:
            raise _too_large(f"a JSON array or object has more than {MAX_ITEMS} members")
        if type(node) is dict:
            for key in node:
                if len(key) > MAX_STRING_CHARS:
                    raise _long()
                if surrogates and LONE_SURROGATE.search(key):
                    raise _lone()
            children: Any = node.values()
        else:
            children = node
        for child in children:
            kind = type(child)
            if kind is str:
                if len(child) > MAX_STRING_CHARS:
                    raise _long()
                if surrogates and LONE_SURROGATE.search(child):
                    raise _lone()
            elif kind is float:
                if not math.isfinite(child):  # 1e400 parses as inf
                    raise _invalid(_NOT_FINITE)
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))


def loads_finite(raw: bytes | str) -> Any:
    """``raw`` decoded, refusing NaN, Infinity, out-of-range numbers (:class:`NotFiniteJson`)
    and nesting past the interpreter's recursion limit (:class:`JsonTooDeep`), both
    ``ValueError`` as :func:`json.loads` refuses anything else that is not JSON."""
    try:
        return json.loads(raw, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise JsonTooDeep("the JSON nests too deep") from None


# An escape that may decode to a surrogate, or a surrogate's own UTF-8 bytes (ED A0..BF):
# json.loads decodes bytes with "surrogatepass", so those become a lone surrogate too.
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def holds_lone_surrogate(value: Any, *, raw: bytes | str | None = None) -> bool:
    """Whether ``value`` (JSON-shaped: mappings, lists, strings) holds a lone UTF-16
    surrogate in a string or an object key; it could then not be encoded as UTF-8. Given the
    ``raw`` text ``value`` was decoded from (by :func:`loads_finite`), ``value`` is walked only
    when ``raw`` has an escape that may decode to one, so a common answer costs one scan."""
    if isinstance(raw, bytes):
        if _SURROGATE_ESCAPE_BYTES.search(raw) is None:
            return False
    elif raw is not None and not (_SURROGATE_ESCAPE.search(raw) or LONE_SURROGATE.search(raw)):
        return False
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if LONE_SURROGATE.search(node):
                return True
        elif isinstance(node, Mapping):
            for key in node:
                if isinstance(key, str) and LONE_SURROGATE.search(key):
                    return True
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return False


def escape_lone_surrogates(text: str) -> str:
    """``text`` (JSON encoded with ``ensure_ascii=False``, so any surrogate is inside a string)
    with each lone surrogate written as its escape (``\\ud800``): valid UTF-8 that decodes to
    the same value. Text without one is returned as it is."""
    return LONE_SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def utf8_of_json(text: str) -> tuple[str, bytes]:
    """JSON ``text`` (encoded with ``ensure_ascii=False``) and its UTF-8, a lone surrogate in it
    written as its escape first (:func:`escape_lone_surrogates`): what is stored and hashed of
    data passed on as JSON text."""
    try:
        return text, text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the provider's JSON): kept
        text = escape_lone_surrogates(text)
        return text, text.encode("utf-8")


def replace_lone_surrogates(value: Any) -> Any:
    """``value`` (JSON-shaped) with each lone surrogate of its strings and keys replaced by
    U+FFFD, as a UTF-8 decoder replaces an ill-formed sequence: for a copy that must be valid
    Unicode where the original is kept as sent elsewhere."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {
            LONE_SURROGATE.sub("\ufffd", key): replace_lone_surrogates(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [replace_lone_surrogates(item) for item in value]
    return value


def loads_bounded(raw: bytes | str) -> Any:
    """``raw`` (UTF-8, RFC 8259 section 8.1) decoded and checked against the limits above;
    :class:`~tether.domain.errors.InvalidRequest` when it is refused."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")  # strict: encoded surrogates are refused here
        except UnicodeDecodeError:
            raise _invalid("the body is not valid UTF-8 JSON") from None
    elif LONE_SURROGATE.search(raw):  # a str can hold one unescaped
        raise _lone()
    else:
        text = raw
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except NotFiniteJson:
        raise _invalid(_NOT_FINITE) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise _invalid("the body is not valid JSON") from None
    _check(value, surrogates=_SURROGATE_ESCAPE.search(text) is not None)
    return value
