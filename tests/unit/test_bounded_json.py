"""Bounded JSON decoding (limits at the edge) and the response encoder that never emits what
is not JSON."""

from __future__ import annotations

import json
import math

import pytest

from tether.api.responses import json_response
from tether.domain.bounded_json import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_STRING_CHARS,
    escape_lone_surrogates,
    holds_lone_surrogate,
    loads_bounded,
    loads_finite,
    replace_lone_surrogates,
)
from tether.domain.errors import InvalidRequest


def code_of(raw: str) -> str:
    with pytest.raises(InvalidRequest) as caught:
        loads_bounded(raw)
    return caught.value.code


def test_the_limits_are_inclusive() -> None:
    assert loads_bounded("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert code_of("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)) == "JSON_TOO_DEEP"
    assert len(loads_bounded("[" + ",".join(["1"] * MAX_ITEMS) + "]")) == MAX_ITEMS
    assert code_of("[" + ",".join(["1"] * (MAX_ITEMS + 1)) + "]") == "JSON_TOO_LARGE"
    assert loads_bounded('"' + "x" * MAX_STRING_CHARS + '"')
    assert code_of('"' + "x" * (MAX_STRING_CHARS + 1) + '"') == "JSON_TOO_LARGE"
    assert code_of('{"' + "k" * (MAX_STRING_CHARS + 1) + '": 1}') == "JSON_TOO_LARGE"


def test_scalars_do_not_count_as_a_level() -> None:
    assert loads_bounded("[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH) is not None


def test_deeper_than_the_interpreter_can_parse_is_too_deep_not_a_crash() -> None:
    assert code_of("[" * 100_000 + "]" * 100_000) == "JSON_TOO_DEEP"


@pytest.mark.parametrize("raw", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e400", "[-1E309]"])
def test_non_finite_numbers(raw: str) -> None:
    assert code_of(raw) == "INVALID_JSON"
    with pytest.raises(ValueError, match="not JSON"):
        loads_finite(raw)


def test_big_finite_numbers_are_fine() -> None:
    assert loads_bounded("[1.7e308, -2.5e-320, 12345678901234567890]") == [
        1.7e308,
        -2.5e-320,
        12345678901234567890,
    ]


def test_loads_finite_has_no_size_limits_but_no_recursion_crash() -> None:
    assert len(loads_finite("[" + ",".join(["1"] * (MAX_ITEMS + 5)) + "]")) == MAX_ITEMS + 5
    with pytest.raises(ValueError, match="too deep"):
        loads_finite("[" * 100_000 + "]" * 100_000)


def test_messages_never_quote_the_input() -> None:
    with pytest.raises(InvalidRequest) as caught:
        loads_bounded('{"api_key": "sk_live_secret\\ud800"}')
    assert "sk_live" not in caught.value.message


def test_the_response_encoder_refuses_nan_rather_than_emit_it() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        json_response({"n": math.nan})
    with pytest.raises(ValueError, match="not JSON compliant"):
        json_response([math.inf])


def test_surrogate_escapes_paired_escaped_or_raw() -> None:
    # a pair in a key is one character; an escaped backslash before "ud800" is plain text
    assert loads_bounded(b'{"\\ud83d\\ude00": "\\\\ud800"}') == {"\U0001f600": "\\ud800"}
    assert code_of('{"k": "\\ud800"}') == "INVALID_JSON"
    assert code_of('{"k": "\ud800"}') == "INVALID_JSON"  # a str holding one unescaped
    with pytest.raises(InvalidRequest):
        loads_bounded(b'{"k": "\xed\xa0\x80"}')  # one encoded in UTF-8 bytes


def test_only_utf8_bodies() -> None:
    """RFC 8259 section 8.1: JSON exchanged between systems is UTF-8."""
    with pytest.raises(InvalidRequest):
        loads_bounded('{"k": "v"}'.encode("utf-16"))
    assert loads_bounded('{"k": "\u00e9t\u00e9"}'.encode()) == {"k": "\u00e9t\u00e9"}


@pytest.mark.parametrize(
    "raw",
    [
        b'"\\ud800"',
        b'{"a":["x","\\udfff"]}',
        b'{"\\uD800":1}',
        '{"a":"\ud800"}',
        b'{"a":"\xed\xa0\x80"}',  # a surrogate's own UTF-8 bytes, decoded with surrogatepass
    ],
)
def test_a_lone_surrogate_is_found_wherever_it_is(raw: bytes | str) -> None:
    assert holds_lone_surrogate(loads_finite(raw), raw=raw) is True


@pytest.mark.parametrize(
    "raw", [b'{"a":"\\ud83d\\ude00"}', b'{"a":"\\u00e9","b":[1,"x"]}', b'"\\\\ud800"']
)
def test_a_pair_or_other_escape_is_not_a_lone_surrogate(raw: bytes) -> None:
    assert holds_lone_surrogate(loads_finite(raw), raw=raw) is False


def test_a_value_is_walked_whole_without_its_text() -> None:
    assert holds_lone_surrogate({"u": "https://x/", "p": {"cursor": "\udc00"}}) is True
    assert holds_lone_surrogate(("https://x/", {"cursor": "\U0001f600"}, None)) is False


def test_an_escaped_lone_surrogate_decodes_to_the_same_value() -> None:
    value = {"a\udfff": ["x\ud800y", "\U0001f600", "é"]}
    text = escape_lone_surrogates(json.dumps(value, ensure_ascii=False))
    assert text == '{"a\\udfff": ["x\\ud800y", "\U0001f600", "é"]}'
    assert text.encode("utf-8") and loads_finite(text) == value
    plain = json.dumps({"é": "\U0001f600"}, ensure_ascii=False)
    assert escape_lone_surrogates(plain) == plain


def test_a_copy_that_must_be_unicode_has_the_replacement_character() -> None:
    value = {"a\udfff": ["x\ud800y", 1, None, {"k": "\U0001f600"}]}
    assert replace_lone_surrogates(value) == {"a\ufffd": ["x\ufffdy", 1, None, {"k": "\U0001f600"}]}
