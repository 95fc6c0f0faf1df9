"""Whole numbers from headers and other text a caller or a provider sends.

``str.isdigit()`` is the wrong gate for ``int()``: it accepts superscripts such as ``"²"``
(which ``int()`` refuses with ``ValueError``) and digits of other scripts such as the
Arabic-Indic one ``"\\u0661"`` (which ``int()`` reads as 1), and a string of thousands of
digits makes ``int()`` raise past Python's digit limit. HTTP numbers (RFC 9110 section 5.6.1:
``1*DIGIT``) are ASCII only.
"""

from __future__ import annotations

import re

__all__ = ["parse_decimal"]

_DIGITS = re.compile(r"[0-9]{1,18}")  # 18 digits: anything longer is nonsense here


def parse_decimal(text: str) -> int | None:
    """``text`` as a non-negative integer when it is 1-18 ASCII digits, else ``None``."""
    return int(text) if _DIGITS.fullmatch(text) else None
