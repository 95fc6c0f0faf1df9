"""Gmail ``users.messages.send``: the message is an RFC 5322 document, base64url-encoded in
the ``raw`` field (https://developers.google.com/gmail/api/guides/sending). Built with the
standard library's :mod:`email` package (``EmailMessage`` with the SMTP policy: CRLF line
ends, folded headers, a ``multipart/alternative`` body when there are both text and HTML)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from tether.actions.provider_call import ProviderCall

__all__ = ["rfc5322_message", "send_email"]


def rfc5322_message(values: Mapping[str, Any]) -> bytes:
    """The message ``values`` describe (``to``, ``cc``, ``bcc``, ``subject``, ``text``,
    ``html``, ``reply_to``). Gmail sets ``From`` to the connected account itself."""
    message = EmailMessage(policy=SMTP)
    message["To"] = ", ".join(values["to"])
    if values.get("cc"):
        message["Cc"] = ", ".join(values["cc"])
    if values.get("bcc"):
        message["Bcc"] = ", ".join(values["bcc"])
    if values.get("reply_to"):
        message["Reply-To"] = values["reply_to"]
    message["Subject"] = values["subject"]
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
    answer = call.json("POST", "/users/me/messages/send", json=body)
    return dict(answer or {})
