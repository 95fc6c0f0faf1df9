"""Removing credential values from what the outbound client hands back or writes down.

A credential may appear raw (a header value echoed in a message) or URL-encoded (an API key in
a query string, in any of the encodings ``urllib`` and httpx produce), so each secret is
masked in all those forms. Values are also registered with :func:`tether.logs.register_secret`
so any later log line of the same request or task (a traceback, a stray ``repr``) is masked by
the log formatter too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from tether.logs import redact as redact_log_text
from tether.logs import register_secret

__all__ = ["REDACTED", "Redactor", "encoded_forms"]

REDACTED = "[REDACTED]"
# Shorter values are not worth masking: they would mangle unrelated text and protect nothing.
_MIN_LEN = 4


def encoded_forms(secret: str) -> set[str]:
    """``secret`` as written and as the usual URL encodings write it."""
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    forms |= {f.replace("%", "%25") for f in list(forms) if "%" in f}  # encoded twice
    return {f for f in forms if len(f) >= _MIN_LEN}


class Redactor:
    """Masks a growing set of secrets (and everything :func:`tether.logs.redact` masks)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        # The forms longest first (a form inside a longer one is masked after it), sorted
        # once per change rather than once per string masked.
        self._longest_first: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask ``secrets`` too. When ``secrets`` raises partway, the ones it gave before are
        masked all the same (what :meth:`contains` finds, :meth:`text` masks)."""
        known = len(self._forms)
        try:
            for secret in secrets:
                if not isinstance(secret, str) or len(secret) < _MIN_LEN:
                    continue
                for form in encoded_forms(secret) - self._forms:
                    self._forms.add(form)
                    register_secret(form)
        finally:
            if len(self._forms) != known:
                self._longest_first = tuple(sorted(self._forms, key=len, reverse=True))

    def contains(self, text: str) -> bool:
        """Whether ``text`` carries one of the secrets (in any of its forms)."""
        return any(form in text for form in self._forms)

    def text(self, value: str) -> str:
        """``value`` with these secrets masked, and nothing else changed (no log shapes)."""
        for form in self._longest_first:
            if form in value:
                value = value.replace(form, REDACTED)
        return value

    def scrub(self, value: Any) -> Any:
        """A copy of JSON-shaped ``value`` (dicts, lists, scalars) with these secrets masked
        in every string and object key, at any depth; nothing else changes. Walks with a
        stack, not recursion: a provider's answer may nest as deep as the JSON parser went."""
        if not self._forms:
            return value
        root: list[Any] = [value]
        pending: list[tuple[Any, Any, Any]] = [(root, 0, value)]
        while pending:
            parent, slot, node = pending.pop()
            if isinstance(node, str):
                parent[slot] = self.text(node)
            elif isinstance(node, dict):
                copied: dict[Any, Any] = {}
                for key, item in node.items():
                    name = self.text(key) if isinstance(key, str) else key
                    copied[name] = item
                    pending.append((copied, name, item))
                parent[slot] = copied
            elif isinstance(node, list | tuple):
                items = list(node)
                pending.extend((items, i, item) for i, item in enumerate(items))
                parent[slot] = items
        return root[0]

    def __call__(self, text: str) -> str:
        """``text`` with these secrets and whatever the log redactor masks (for messages)."""
        return redact_log_text(self.text(text))
