"""What the provider API simulators (:mod:`tether_emulators.provider_apis`) remember and
answer, by operation id: events and free/busy (Calendar), sent messages (Gmail), files and
folders (Drive), contacts, deals and token metadata (HubSpot), customers and invoices
(Stripe), invoices (Xero) and orders (Shopify). Requests reach here only once they fit the
API description.

Size: one small in-memory backend per simulated API; each handler is a few lines.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.wrappers import Request

__all__ = ["Answer", "ProviderState", "answer_for"]


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"


def _not_found() -> Answer:
    return Answer(404, {"error": {"code": 404, "message": "not found"}})


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class ProviderState:
    """Every simulated API's records; tests may seed ``stripe_invoices``, ``shopify_orders``
    and ``xero_tenants``. ``hubspot_portal``: the one HubSpot account (hub id) every token
    belongs to."""

    events: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    contents: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    stripe_invoices: list[dict[str, Any]] = field(default_factory=list)
    xero_invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    xero_tenants: set[str] = field(default_factory=set)
    shopify_orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    hubspot_portal: int = 62515
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1001))

    def new_id(self) -> str:
        return str(next(self._ids))


Handler = Callable[[ProviderState, Request, dict[str, str], bytes], Answer]


# -- Google Calendar ------------------------------------------------------------------------


def _event(state: ProviderState, calendar: str, body: dict[str, Any], request: Request) -> Answer:
    event_id = "ev" + state.new_id()
    stored = {**body, "id": event_id, "status": "confirmed", "updated": _now()}
    stored["htmlLink"] = f"https://calendar.example/event?eid={event_id}"
    create = (body.get("conferenceData") or {}).get("createRequest")
    if create and request.args.get("conferenceDataVersion") == "1":
        link = f"https://meet.example/{create['requestId'][:12]}"
        stored["hangoutLink"] = link
        stored["conferenceData"] = {
            "conferenceId": create["requestId"][:12],
            "entryPoints": [{"entryPointType": "video", "uri": link}],
        }
    state.events.setdefault(calendar, {})[event_id] = stored
    return Answer(200, stored)


def calendar_insert(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    return _event(state, p["calendarId"], json.loads(b), r)


def calendar_patch(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    event = state.events.get(p["calendarId"], {}).get(p["eventId"])
    if event is None:
        return _not_found()
    for key, value in json.loads(b or b"{}").items():
        event[key] = {**event.get(key, {}), **value} if isinstance(value, dict) else value
    event["updated"] = _now()
    return Answer(200, event)


def calendar_delete(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    if state.events.get(p["calendarId"], {}).pop(p["eventId"], None) is None:
        return Answer(410, {"error": {"code": 410, "message": "deleted"}})
    return Answer(204)


def _overlaps(event: dict[str, Any], start: datetime | None, end: datetime | None) -> bool:
    begins = _parse_time(event["start"]["dateTime"])
    ends = _parse_time(event["end"]["dateTime"])
    return (start is None or ends > start) and (end is None or begins < end)


def calendar_list(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    start = _parse_time(r.args["timeMin"]) if "timeMin" in r.args else None
    end = _parse_time(r.args["timeMax"]) if "timeMax" in r.args else None
    text = r.args.get("q", "").casefold()
    items = [
        e
        for e in state.events.get(p["calendarId"], {}).values()
        if _overlaps(e, start, end) and text in json.dumps(e).casefold()
    ]
    items.sort(key=lambda e: _parse_time(e["start"]["dateTime"]))
    limit = int(r.args.get("maxResults", "250"))
    return Answer(200, {"kind": "calendar#events", "items": items[:limit]})


def calendar_freebusy(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    asked = json.loads(b)
    start, end = _parse_time(asked["timeMin"]), _parse_time(asked["timeMax"])
    calendars = {}
    for item in asked.get("items", []):
        busy = [
            {"start": e["start"]["dateTime"], "end": e["end"]["dateTime"]}
            for e in state.events.get(item["id"], {}).values()
            if _overlaps(e, start, end) and e.get("transparency") != "transparent"
        ]
        calendars[item["id"]] = {"busy": busy}
    return Answer(200, {"kind": "calendar#freeBusy", "calendars": calendars})


# -- Gmail ----------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def gmail_send(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    body = json.loads(b)
    raw = body.get("raw", "")
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except ValueError:
        return Answer(400, {"error": {"code": 400, "message": "raw is not base64url"}})
    message = email.parser.BytesParser(policy=email.policy.SMTP).parsebytes(data)
    if not message["To"] or message["Subject"] is None:
        return Answer(400, {"error": {"code": 400, "message": "Invalid To header"}})
    message_id = "m" + state.new_id()
    parts: list[dict[str, Any]] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        parts.append(
            {
                "mimeType": part.get_content_type(),
                "body": {"data": _b64url(payload if isinstance(payload, bytes) else b"")},
            }
        )
    text = next((p["body"]["data"] for p in parts if p["mimeType"] == "text/plain"), "")
    snippet = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()[:100]
    state.messages[message_id] = {
        "id": message_id,
        "threadId": body.get("threadId") or "t" + message_id,
        "labelIds": ["SENT"],
        "snippet": snippet,
        "raw_text": data.decode("utf-8", "replace"),
        "payload": {
            "mimeType": message.get_content_type(),
            "headers": [{"name": k, "value": str(v)} for k, v in message.items()],
            "parts": parts,
        },
    }
    stored = state.messages[message_id]
    return Answer(200, {k: stored[k] for k in ("id", "threadId", "labelIds")})


def gmail_get(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    message = state.messages.get(p["id"])
    if message is None:
        return _not_found()
    return Answer(200, {k: v for k, v in message.items() if k != "raw_text"})


def gmail_list(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    terms = [t.split(":", 1)[-1].casefold() for t in r.args.get("q", "").split()]
    found = [
        {"id": m["id"], "threadId": m["threadId"]}
        for m in state.messages.values()
        if all(term in m["raw_text"].casefold() for term in terms)
    ]
    limit = int(r.args.get("maxResults", "100"))
    return Answer(200, {"messages": found[:limit], "resultSizeEstimate": len(found)})


# -- Google Drive ---------------------------------------------------------------------------


def _multipart(r: Request, body: bytes) -> tuple[dict[str, Any], bytes, str]:
    header = f"Content-Type: {r.headers['Content-Type']}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    metadata_part, media_part = list(message.iter_parts())
    payload = metadata_part.get_payload(decode=True)
    metadata = json.loads(payload if isinstance(payload, bytes) else b"{}")
    raw = media_part.get_payload(decode=True)
    return metadata, raw if isinstance(raw, bytes) else b"", media_part.get_content_type()


def _file_view(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k in ("id", "name", "mimeType", "parents")}


def drive_create(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    file_id = "f" + state.new_id()
    if r.path.startswith("/upload/"):
        metadata, content, media_type = _multipart(r, b)
        state.contents[file_id] = (content, metadata.get("mimeType") or media_type)
    else:
        metadata = json.loads(b or b"{}")
    stored = {"mimeType": "application/octet-stream", **metadata, "id": file_id}
    stored["modifiedTime"] = _now()
    for parent in stored.get("parents", []):
        if parent not in state.files:
            return _not_found()
    state.files[file_id] = stored
    return Answer(200, _file_view(stored))


def drive_get(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    stored = state.files.get(p["fileId"])
    if stored is None:
        return _not_found()
    if r.args.get("alt") == "media":
        content, mime = state.contents.get(p["fileId"], (b"", stored["mimeType"]))
        return Answer(200, raw=content, content_type=mime)
    return Answer(200, _file_view(stored))


def drive_list(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    query = r.args.get("q", "")
    wanted = query.split("'")[1] if "name contains '" in query else ""
    files = [_file_view(f) for f in state.files.values() if wanted in f.get("name", "")]
    return Answer(
        200, {"kind": "drive#fileList", "files": files[: int(r.args.get("pageSize", 100))]}
    )


def drive_delete(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    if state.files.pop(p["fileId"], None) is None:
        return _not_found()
    state.contents.pop(p["fileId"], None)
    return Answer(204)


# -- HubSpot --------------------------------------------------------------------------------


def _crm_object(object_id: str, properties: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    return {
        "id": object_id,
        "properties": {**properties, "hs_object_id": object_id},
        "createdAt": now,
        "updatedAt": now,
        "archived": False,
    }


def access_token_info(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    """HubSpot's AccessTokenInfoResponse; the token was checked before (it is in the path)."""
    return Answer(
        200,
        {
            "token": p["token"],
            "user": "developer@example.com",
            "hub_domain": f"{state.hubspot_portal}.hubspot.example",
            "scopes": ["oauth"],
            "hub_id": state.hubspot_portal,
            "app_id": 1,
            "expires_in": 1800,
            "user_id": 1,
            "token_type": "access",
        },
    )


def contact_create(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    properties = json.loads(b).get("properties", {})
    email_address = properties.get("email")
    if any(c["properties"].get("email") == email_address for c in state.contacts.values()):
        return Answer(409, {"status": "error", "message": "Contact already exists"})
    contact = _crm_object(state.new_id(), properties)
    state.contacts[contact["id"]] = contact
    return Answer(201, contact)


def contact_update(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    contact = state.contacts.get(p["contactId"])
    if contact is None:
        return _not_found()
    contact["properties"].update(json.loads(b).get("properties", {}))
    contact["updatedAt"] = _now()
    return Answer(200, contact)


def contact_get(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    contact = state.contacts.get(p["contactId"])
    return _not_found() if contact is None else Answer(200, contact)


def contact_list(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    everything = sorted(state.contacts.values(), key=lambda c: int(c["id"]))
    after = int(r.args.get("after", "0"))
    limit = int(r.args.get("limit", "10"))
    page = [c for c in everything if int(c["id"]) > after][:limit]
    body: dict[str, Any] = {"results": page}
    if page and int(page[-1]["id"]) < int(everything[-1]["id"]):
        body["paging"] = {"next": {"after": page[-1]["id"]}}
    return Answer(200, body)


def contact_search(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    asked = json.loads(b)
    filters = [f for group in asked.get("filterGroups", []) for f in group.get("filters", [])]
    found = [
        c
        for c in state.contacts.values()
        if all(
            str(c["properties"].get(f["propertyName"], "")).casefold()
            == str(f.get("value", "")).casefold()
            for f in filters
        )
    ]
    limit = int(asked.get("limit", 10))
    return Answer(200, {"total": len(found), "results": found[:limit]})


def deal_create(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    asked = json.loads(b)
    for association in asked.get("associations", []):
        if association["to"]["id"] not in state.contacts:
            return Answer(400, {"status": "error", "message": "association target not found"})
    deal = _crm_object(state.new_id(), asked.get("properties", {}))
    state.deals[deal["id"]] = deal
    return Answer(201, deal)


# -- Stripe, Xero, Shopify ------------------------------------------------------------------


def stripe_customer(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    fields = dict(parse_qsl(b.decode()))
    customer_id = "cus_" + uuid.uuid4().hex[:14]
    metadata = {k[len("metadata[") : -1]: v for k, v in fields.items() if k.startswith("metadata[")}
    customer = {
        "id": customer_id,
        "object": "customer",
        "created": int(datetime.now(UTC).timestamp()),
        "livemode": False,
        "email": fields.get("email"),
        "name": fields.get("name"),
        "description": fields.get("description"),
        "metadata": metadata,
    }
    state.customers[customer_id] = customer
    return Answer(200, customer)


def stripe_invoices(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    found = [
        i
        for i in state.stripe_invoices
        if all(i.get(k) == r.args[k] for k in ("customer", "status") if k in r.args)
    ]
    limit = int(r.args.get("limit", "10"))
    return Answer(
        200,
        {
            "object": "list",
            "url": "/v1/invoices",
            "data": found[:limit],
            "has_more": len(found) > limit,
        },
    )


def xero_invoice(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    if r.headers.get("xero-tenant-id") not in state.xero_tenants:
        return Answer(403, {"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"})
    created = []
    for invoice in json.loads(b).get("Invoices", []):
        lines = invoice.get("LineItems", [])
        total = sum(line.get("Quantity", 1) * line.get("UnitAmount", 0) for line in lines)
        stored = {
            **invoice,
            "InvoiceID": str(uuid.uuid4()),
            "InvoiceNumber": f"INV-{state.new_id()}",
            "Status": invoice.get("Status", "DRAFT"),
            "Total": total,
        }
        state.xero_invoices[stored["InvoiceID"]] = stored
        created.append(stored)
    return Answer(200, {"Id": str(uuid.uuid4()), "Status": "OK", "Invoices": created})


def xero_connections(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    """The organisations the grant reaches: every one the simulated Xero knows, each granted
    with the same authorisation event (``authEventId`` filters by it)."""
    event = str(uuid.uuid5(uuid.NAMESPACE_URL, "tether-simulator:xero:auth-event"))
    if r.args.get("authEventId", event) != event:
        return Answer(200, [])
    return Answer(
        200,
        [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"tether-simulator:xero:{tenant}")),
                "authEventId": event,
                "tenantId": tenant,
                "tenantType": "ORGANISATION",
                "tenantName": f"Demo Company {n}",
                "createdDateUtc": "2026-01-05T09:30:00.0000000",
                "updatedDateUtc": "2026-01-05T09:30:00.0000000",
            }
            for n, tenant in enumerate(sorted(state.xero_tenants), start=1)
        ],
    )


def shopify_order(state: ProviderState, r: Request, p: dict[str, str], b: bytes) -> Answer:
    order = state.shopify_orders.get(p["id"])
    return _not_found() if order is None else Answer(200, {"order": order})


HANDLERS: dict[str, Handler] = {
    "calendar.events.insert": calendar_insert,
    "calendar.events.patch": calendar_patch,
    "calendar.events.delete": calendar_delete,
    "calendar.events.list": calendar_list,
    "calendar.freebusy.query": calendar_freebusy,
    "gmail.users.messages.send": gmail_send,
    "gmail.users.messages.get": gmail_get,
    "gmail.users.messages.list": gmail_list,
    "drive.files.create": drive_create,
    "drive.files.get": drive_get,
    "drive.files.list": drive_list,
    "drive.files.delete": drive_delete,
    "get-/oauth/v1/access-tokens/{token}_get": access_token_info,
    "post-/crm/v3/objects/contacts_create": contact_create,
    "patch-/crm/v3/objects/contacts/{contactId}_update": contact_update,
    "get-/crm/v3/objects/contacts/{contactId}_getById": contact_get,
    "get-/crm/v3/objects/contacts_getPage": contact_list,
    "post-/crm/v3/objects/contacts/search_doSearch": contact_search,
    "post-/crm/v3/objects/0-3_create": deal_create,
    "PostCustomers": stripe_customer,
    "GetInvoices": stripe_invoices,
    "createInvoices": xero_invoice,
    "getConnections": xero_connections,
    "GET /admin/api/{api_version}/orders/{id}.json": shopify_order,
}


def answer_for(
    state: ProviderState, operation: str, request: Request, params: dict[str, str], body: bytes
) -> Answer:
    handler = HANDLERS.get(operation)
    if handler is None:
        return Answer(501, {"error": {"message": f"{operation} is not simulated"}})
    with state.lock:
        return handler(state, request, params, body)
