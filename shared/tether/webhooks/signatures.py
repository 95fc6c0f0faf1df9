"""Webhook signature verification: pure functions of the raw request, failing closed.

:func:`scheme_for` maps a catalog ``webhook.scheme`` name (plus optional options) to a
:class:`~tether.webhooks.model.SignatureScheme`. ``verify(request, secrets, now=...)`` returns
``None`` when the delivery is provably from the sender and raises
:class:`~tether.webhooks.model.SignatureError` otherwise, with ``reason``:

* ``no_secret``: ``secrets`` is empty, or one of them is empty or unusable;
* ``missing_header``: a signature (or timestamp, id) header is absent or empty;
* ``malformed``: a header (or Twilio's ``bodySHA256``) cannot be parsed;
* ``mismatch``: no secret produces a signature the request carries;
* ``stale``: the signature is genuine but its timestamp is outside the tolerance.

The signature is checked before the timestamp, so ``stale`` is only reported for genuinely
signed (replayed or clock-skewed) deliveries. Several ``secrets`` are a rotation overlap: any
one verifying is enough. For ``sendgrid`` the "secret" is a public key (ECDSA P-256): the one
asymmetric scheme. Every comparison is ``hmac.compare_digest`` over the decoded digests.
Messages never contain a secret, a signature or a header value.

Each scheme also says which header carries the sender's event id, if one does
(``event_id_header``, lower-case; :func:`event_id_header`), and whether it verifies anything at
all (``verifies``: ``False`` only for ``none``).

``none`` accepts every request. :func:`scheme_for` returns it only for the explicit name
``"none"``, never as a default; deciding when an unsigned delivery is acceptable is the
caller's job (see :mod:`tether.webhooks.schemes.unsigned`).

Options (a mapping; unknown keys raise ``ValueError``):

* ``stripe``, ``slack``, ``hubspot_v3``, ``standard_webhooks``, ``svix``, ``sendgrid``:
  ``tolerance_seconds`` (default 300);
* ``hmac``: ``header`` (required), ``algorithm`` (``sha256`` | ``sha1`` | ``sha512``),
  ``encoding`` (``hex`` | ``base64``), ``prefix`` (e.g. ``"sha256="``), ``event_id_header``,
  ``separator`` (the header lists several signatures: ``","``, ``";"`` or ``" "``);
* ``none``: ``event_id_header``;
* the others: none.

This module is the registry; the scheme classes are exported by :mod:`tether.webhooks.schemes`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from tether.webhooks.model import SignatureScheme
from tether.webhooks.schemes import (
    GitHubScheme,
    HmacScheme,
    HubSpotV3Scheme,
    SendGridScheme,
    ShopifyScheme,
    SlackScheme,
    SquareScheme,
    StandardWebhooksScheme,
    StripeScheme,
    SvixScheme,
    TwilioScheme,
    UnsignedScheme,
    XeroScheme,
)

__all__ = ["SCHEME_NAMES", "RegisteredScheme", "event_id_header", "scheme_for"]


class RegisteredScheme(SignatureScheme, Protocol):
    """A :class:`SignatureScheme` as :func:`scheme_for` returns it."""

    #: The lower-case header carrying the sender's event id, or ``None`` (id in the body).
    event_id_header: str | None
    #: ``False`` only for ``none``, which accepts every request.
    verifies: bool


_FACTORIES: Final[Mapping[str, Callable[[Mapping[str, Any] | None], RegisteredScheme]]] = {
    "stripe": StripeScheme.from_options,
    "shopify": ShopifyScheme.from_options,
    "slack": SlackScheme.from_options,
    "github": GitHubScheme.from_options,
    "hubspot_v3": HubSpotV3Scheme.from_options,
    "square": SquareScheme.from_options,
    "xero": XeroScheme.from_options,
    "twilio": TwilioScheme.from_options,
    "standard_webhooks": StandardWebhooksScheme.from_options,
    "svix": SvixScheme.from_options,
    "sendgrid": SendGridScheme.from_options,
    "hmac": HmacScheme.from_options,
    "none": UnsignedScheme.from_options,
}

#: Every scheme name :func:`scheme_for` knows: the catalog's ``WebhookScheme`` values.
SCHEME_NAMES: Final[tuple[str, ...]] = tuple(_FACTORIES)


def scheme_for(name: str, options: Mapping[str, Any] | None = None) -> RegisteredScheme:
    """The scheme called ``name``, configured by ``options``. An unknown name, an unknown
    option or a bad option value raises ``ValueError`` (a configuration error, not a bad
    delivery)."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown webhook signature scheme {name!r}")
    return factory(options)


def event_id_header(name: str, options: Mapping[str, Any] | None = None) -> str | None:
    """The lower-case header carrying the event id for scheme ``name``, or ``None`` when the
    sender puts it only in the body."""
    return scheme_for(name, options).event_id_header
