"""Gmail ``users.messages.send``: the message is an RFC 5322 document, base64url-encoded in
the ``raw`` field (https://developers.google.com/gmail/api/guides/sending). Built with the
standard library's :mod:`email` package (``EmailMessage`` with the SMTP policy: CRLF line
ends, folded headers, a ``multipart/alternative`` body when there are both text and HTML)."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from tether.actions.mapping import input_error
from tether.actions.provider_call import ProviderCall

__all__ = ["rfc5322_message", "send_email"]

# C0 controls but the tab, DEL, and the line breaks str.splitlines adds to them.
_NOT_IN_A_LINE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def _one_line(value: str, field: str) -> str:
    """``value`` as a header's text: a line break would end the header and start one of
    the caller's own (RFC 5322 §2.2), which the message must not carry. The email package
    breaks lines where ``str.splitlines`` does (U+2028, U+0085, a vertical tab...), so each
    of those is refused, as is any other control character a header cannot hold."""
    if _NOT_IN_A_LINE.search(value):
        raise input_error(field, "must not contain a line break or control character")
    return value


def _one_address(value: str, field: str) -> str:
    """``value`` when it is exactly one address (``ann@example.com`` or ``Ann
    <ann@example.com>``), read as the header's own parser reads it: an item holding a comma
    list or a group would add recipients the input does not show as items."""
    header = SMTP.header_factory("To", _one_line(value, field))
    if len(header.addresses) != 1 or header.defects:
        raise input_error(field, "must be one email address")
    return value


def _address_list(values: Mapping[str, Any], field: str) -> str:
    return ", ".join(
        _one_address(value, f"{field}.{index}") for index, value in enumerate(values[field])
    )


def rfc5322_message(values: Mapping[str, Any]) -> bytes:
    """The message ``values`` describe (``to``, ``cc``, ``bcc``, ``subject``, ``text``,
    ``html``, ``reply_to``). Gmail sets ``From`` to the connected account itself. A header
    input that would add a header or a recipient is refused (400 ``INVALID_INPUT``)."""
    message = EmailMessage(policy=SMTP)
    message["To"] = _address_list(values, "to")
    if values.get("cc"):
        message["Cc"] = _address_list(values, "cc")
    if values.get("bcc"):
        message["Bcc"] = _address_list(values, "bcc")
    if values.get("reply_to"):
        message["Reply-To"] = _one_address(values["reply_to"], "reply_to")
    message["Subject"] = _one_line(values["subject"], "subject")
    text, html = values.get("text"), values.get("html")
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html or "", subtype="html")
    return message.as_bytes()


def send_email(values: Mapping[str, Any], call: ProviderCall) -> dict[str, Any]:
    raw = base64.urlsafe_b64encode(rfc5322_message(values)).decode("ascii")
    body: dict[str, Any] = {"raw": raw}
    if values.get("thread_id"):
        body["threadId"] = values["thread_id"]
    return call.json_object("POST", "/users/me/messages/send", json=body)
