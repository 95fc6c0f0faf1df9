"""Removing credential values from what the outbound client hands back or writes down.

A credential may appear raw (a header value echoed in a message) or URL-encoded (an API key in
a query string, in any of the encodings ``urllib`` and httpx produce), so each secret is
masked in all those forms. Values are also registered with :func:`tether.logs.register_secret`
so any later log line of the same request or task (a traceback, a stray ``repr``) is masked by
the log formatter too.
"""

from __future__ import annotations

from collections.abc import Iterable
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
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            if not isinstance(secret, str) or len(secret) < _MIN_LEN:
                continue
            for form in encoded_forms(secret) - self._forms:
                self._forms.add(form)
                register_secret(form)

    def contains(self, text: str) -> bool:
        """Whether ``text`` carries one of the secrets (in any of its forms)."""
        return any(form in text for form in self._forms)

    def __call__(self, text: str) -> str:
        for form in sorted(self._forms, key=len, reverse=True):
            if form in text:
                text = text.replace(form, REDACTED)
        return redact_log_text(text)
