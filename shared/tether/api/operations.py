"""Every operation the functions serve, with the models of its request and response bodies;
:mod:`tether.api.openapi` turns this table into the OpenAPI document, and a test checks it
against the routers so a route cannot go undocumented."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from tether.api import schemas as s
from tether.api.actions import ActionOutputBody, ActionsBody
from tether.api.fetch import EndpointsBody
from tether.api.records import RecordsBody, RecordsQuery
from tether.api.settings import PutSettings, RotateSecret
from tether.api.syncs import (
    PutSync,
    RunsBody,
    RunsQuery,
    RunStarted,
    RunSync,
    SyncsBody,
    SyncView,
)
from tether.api.tasks import ReplayDelivery
from tether.api.testing import ProbeOutcomeBody, ProbeUnsaved
from tether.connect.commands import CreateConnectSession
from tether.connections.commands import (
    CatalogQuery,
    CreateConnection,
    ListConnections,
    StartOAuth,
    UpdateConnection,
)
from tether.domain.bounded_json import MAX_DEPTH, MAX_ITEMS, MAX_STRING_CHARS
from tether.fetch.service import FetchRequest, FetchResult

__all__ = ["LIMITS", "OPERATIONS", "Operation"]

LIMITS = (
    f"Every JSON body is checked before anything reads it: at most {MAX_DEPTH} nested arrays "
    f"or objects (400 JSON_TOO_DEEP), {MAX_ITEMS} members in one array or object and "
    f"{MAX_STRING_CHARS} characters in one string or key (400 JSON_TOO_LARGE); NaN, Infinity, "
    "numbers out of range and lone UTF-16 surrogates are refused (400 INVALID_JSON). A record "
    "stored before these limits that can no longer be read is left out of listings, answers "
    "409 RECORD_UNREADABLE when asked for by id, and can still be deleted."
)


@dataclass(frozen=True)
class Operation:
    """One method on one path (``/<function>/…`` with ``{param}``s). ``responses``: a model
    per status, or a description for a status without a body; ``errors``: statuses answered
    with the error body."""

    method: str
    path: str
    summary: str
    responses: dict[int, type[BaseModel] | str]
    errors: tuple[int, ...] = ()
    security: Literal["public", "bearer", "tasks"] = "bearer"
    description: str | None = None
    request: type[BaseModel] | None = None
    request_optional: bool = False
    raw_body: str | None = None
    query: type[BaseModel] | None = None
    query_text: tuple[tuple[str, str], ...] = ()
    path_params: tuple[str, ...] = field(default=())
    # A connect session's token is accepted too (for its end user's connections only).
    sessions: bool = False

    def __post_init__(self) -> None:
        if not self.path_params:
            params = tuple(p[1:-1] for p in self.path.split("/") if p.startswith("{"))
            object.__setattr__(self, "path_params", params)


_CONN = "/connections/{id}"
_PATCH = (
    "Credentials merge field by field; null removes a field. Credentials are bound to their "
    "destination: a config change that moves where they are sent (a base URL's origin, a "
    "token URL, a database host) needs the credentials again in the same request, which then "
    "replace the stored ones (409 CREDENTIALS_REQUIRED otherwise; an OAuth connection waits "
    "for a reconnect). Send If-Match with the ETag to refuse lost updates."
)
_RAW = "the provider's payload, read raw and verified over its exact bytes"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/catalog/",
        "List providers",
        {200: s.ProviderList},
        (400,),
        security="public",
        query=CatalogQuery,
    ),
    Operation(
        "GET",
        "/catalog/{key}",
        "One provider with its credentials and config JSON Schemas",
        {200: s.ProviderDetail},
        (404,),
        security="public",
    ),
    Operation(
        "POST",
        "/connections/",
        "Create a connection",
        {201: s.ConnectionView},
        (400, 401, 403, 404, 409, 413, 415),
        request=CreateConnection,
        sessions=True,
    ),
    Operation(
        "GET",
        "/connections/",
        "List the tenant's connections, newest first",
        {200: s.ConnectionList},
        (400, 401),
        query=ListConnections,
        sessions=True,
    ),
    Operation(
        "GET", _CONN, "Get a connection", {200: s.ConnectionView}, (401, 404, 409), sessions=True
    ),
    Operation(
        "PATCH",
        _CONN,
        "Change display name, config, metadata or credentials",
        {200: s.ConnectionView},
        (400, 401, 403, 404, 409, 412, 413),
        description=_PATCH,
        request=UpdateConnection,
        sessions=True,
    ),
    Operation(
        "DELETE",
        _CONN,
        "Delete a connection (soft delete; credentials destroyed)",
        {204: "deleted"},
        (401, 404),
        description="A record that can no longer be read (409 RECORD_UNREADABLE on GET) is "
        "removed for good; its tokens cannot be revoked at the provider.",
        sessions=True,
    ),
    Operation(
        "GET",
        f"{_CONN}/audit",
        "Audit trail of a connection (no secrets)",
        {200: s.AuditTrail},
        (401, 404, 409),
    ),
    Operation(
        "POST",
        f"{_CONN}/refresh",
        "Refresh an OAuth connection's access token now",
        {200: s.ConnectionView},
        (400, 401, 404, 409, 503),
    ),
    Operation(
        "POST",
        f"{_CONN}/webhook/rotate",
        "A new webhook URL for the connection (shown once; the old one stops)",
        {201: s.WebhookUrl},
        (400, 401, 404),
    ),
    Operation(
        "GET",
        f"{_CONN}/events",
        "Recent inbound events and deliveries of the connection",
        {200: s.ConnectionEvents},
        (401, 404),
    ),
    Operation(
        "POST",
        "/oauth_start/",
        "Start an OAuth2 authorization (PKCE S256)",
        {201: s.OAuthStarted},
        (400, 401, 403, 404, 409),
        description="Started with a connect session's token, the flow is bound to the browser "
        "that started it: the answer sets a cookie on the callback's path, and the callback "
        "refuses the flow (error=browser_mismatch) in a browser without it, and once the "
        "session was ended or has expired (error=session_ended).",
        request=StartOAuth,
        sessions=True,
    ),
    Operation(
        "GET",
        "/oauth_callback/",
        "The provider's redirect; 302 to return_to with connection_id and status, or error "
        "and message",
        {302: "to return_to"},
        (400,),
        security="public",
        query_text=(
            ("code", "authorization code"),
            ("state", "the state from oauth_start"),
            ("iss", "issuer (RFC 9207)"),
            ("error", "the provider's error code"),
        ),
    ),
    Operation(
        "POST",
        "/test_connection/",
        "Test unsaved credentials",
        {200: ProbeOutcomeBody},
        (400, 401, 403, 404),
        request=ProbeUnsaved,
        sessions=True,
    ),
    Operation(
        "POST",
        "/test_connection/{id}",
        "Test a stored connection and record the result on it",
        {200: ProbeOutcomeBody},
        (401, 404, 409),
        sessions=True,
    ),
    Operation(
        "POST",
        "/fetch/{id}",
        "Fetch from the connection's API, page by page",
        {200: FetchResult},
        (400, 401, 404, 409, 502),
        description="The connection's own credential values are masked ([REDACTED]) "
        "wherever they appear in the records or the cursor, as an API that echoes the "
        "request would return them.",
        request=FetchRequest,
    ),
    Operation(
        "GET",
        "/fetch/{id}/endpoints",
        "Endpoints of the connection's API (catalog, then OpenAPI/Swagger)",
        {200: EndpointsBody},
        (401, 404, 409),
        sessions=True,
    ),
    Operation(
        "GET",
        "/actions/{id}",
        "The actions this connection can run (its provider's, filtered by granted scopes)",
        {200: ActionsBody},
        (401, 404),
    ),
    Operation(
        "POST",
        "/actions/{id}/{action}",
        "Run one action; the body is its input",
        {200: ActionOutputBody},
        (400, 401, 403, 404, 409, 422, 429, 502, 504),
        description="The input is checked against the action's input schema (400 "
        "INVALID_INPUT naming the field). Send an Idempotency-Key header with actions that "
        "write: for 24 h a retry with the same key and input answers the first run's output "
        "(Idempotent-Replayed: true) without running again; the same key with another input "
        "is 422 IDEMPOTENCY_KEY_REUSED, while the first run is still going 409 "
        "IDEMPOTENCY_IN_PROGRESS. A failed run frees its key, unless the provider had acted "
        "(a 2xx answer to a write the run then refused): the retry then gets that error "
        "again, with details.replayed, and only a new key runs the action again. A "
        "provider's refusal "
        "has a connection test's code and, in details, its suggestion and provider_status.",
        raw_body="the action's input, a JSON object (may be empty)",
    ),
    Operation(
        "POST",
        "/mcp/",
        "Model Context Protocol (Streamable HTTP, stateless, JSON answers)",
        {},
        (400, 401, 403, 413),
        description="One JSON-RPC 2.0 message per POST, answered as MCP's Streamable HTTP "
        "transport answers it, JSON-RPC errors included (a request without Accept: "
        "application/json, text/event-stream is 406); a body past the JSON limits is 400 "
        "JSON_TOO_DEEP, JSON_TOO_LARGE or INVALID_JSON; a request whose Origin is not one "
        "CORS allows is 403 ORIGIN_NOT_ALLOWED (DNS-rebinding protection). Tools: "
        "tether__connections (the caller's connections and their status), "
        "<connection key>__<action> for every action an active connection's scopes allow, "
        "<connection key>__fetch for generic REST and GraphQL connections. A failed call is "
        "a tool error (isError) whose structured content is {error: {code, message, "
        "suggestion, field}}. A connect session's token sees its end user's connections "
        "only, and tools of the providers the session offers.",
        raw_body="a JSON-RPC 2.0 message of the Model Context Protocol",
        sessions=True,
    ),
    *(
        Operation(
            method,
            f"/proxy/{{id}}{suffix}",
            "Pass a request through to the connection's API, its credentials attached",
            {},
            (400, 401, 404, 409, 413, 502),
            description="The answer is the provider's, any status and content type, as it sent "
            "it; the error bodies below are Tether's own refusals (before anything is sent, or "
            "when the provider could not be reached). "
            "Method, query and body go to the connection's API base URL plus the "
            "path (no . or .. segments), under its rate limit, the SSRF guard and its "
            "destination binding, with one refresh after a 401. Hop-by-hop headers, "
            "Authorization, cookies and the connection's own credential header are never "
            "forwarded; Set-Cookie never comes back; the connection's credential values are "
            "masked ([REDACTED]) in the answer.",
            raw_body="passed on as is" if method in ("POST", "PUT", "PATCH") else None,
        )
        for suffix in ("", "/{path}")
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    ),
    Operation(
        "POST",
        "/webhooks/{token}",
        "A provider's webhook delivery to one connection (signature verified)",
        {200: s.WebhookAnswer},
        (401, 404, 413, 503),
        security="public",
        raw_body=_RAW,
    ),
    Operation(
        "POST",
        "/webhooks/providers/{provider}",
        "An app-level webhook delivery, routed by the catalog's route field",
        {200: s.WebhookAnswer},
        (401, 404, 413, 503),
        security="public",
        description="Providers that require an answer without a body (Xero) get the same "
        "statuses with no body. A delivery carrying several events (Xero, HubSpot) is split "
        "into one event per item, each routed by its own route value. A verified handshake "
        "(Slack's url_verification) is answered with its challenge.",
        raw_body=_RAW,
    ),
    Operation(
        "POST",
        "/connect_sessions/",
        "Open a connect session for one end user (at most 30 minutes)",
        {201: s.ConnectSessionCreated},
        (400, 401, 403, 413),
        description="The token reaches that end user's connections (create, test, reconnect, "
        "delete, OAuth) and the providers the session allows, nothing else; an expired, "
        "ended or forged one answers 401 SESSION_EXPIRED, SESSION_REVOKED or INVALID_SESSION.",
        request=CreateConnectSession,
    ),
    Operation(
        "GET",
        "/connect_sessions/current",
        "The session a connect session's token belongs to",
        {200: s.ConnectSessionView},
        (401, 403),
        sessions=True,
    ),
    Operation(
        "DELETE",
        "/connect_sessions/current",
        "End the session this token belongs to",
        {204: "ended"},
        (401, 403, 404),
        sessions=True,
    ),
    Operation(
        "DELETE",
        "/connect_sessions/{id}",
        "End one of the tenant's connect sessions",
        {204: "ended"},
        (401, 403, 404),
    ),
    Operation(
        "GET",
        "/connect/",
        "The hosted Connect page (HTML); the session's token goes in the fragment",
        {200: "the page"},
        (),
        security="public",
        query_text=(("session", "the session's id: its allowed origins may frame the page"),),
    ),
    Operation(
        "GET",
        "/connect/{name}",
        "The page's script and stylesheet, and the embed script (embed.js)",
        {200: "the file", 304: "not modified"},
        (404,),
        security="public",
    ),
    Operation(
        "GET",
        "/settings/",
        "The tenant's notify URL and signing secrets (ids, never values)",
        {200: s.NotifySettingsBody},
        (401,),
    ),
    Operation(
        "PUT",
        "/settings/",
        "Set the notify URL (null clears it)",
        {200: s.NotifySettingsBody},
        (400, 401, 409),
        request=PutSettings,
    ),
    Operation(
        "POST",
        "/settings/notify-secret/rotate",
        "A new whsec_ signing secret, shown once; previous ones keep signing for overlap_hours",
        {201: s.RotatedNotifySecret},
        (400, 401, 409),
        request=RotateSecret,
        request_optional=True,
    ),
    Operation(
        "GET",
        "/syncs/{id}",
        "The connection's syncs: the catalog's and the tenant's own",
        {200: SyncsBody},
        (401, 404),
        description="Each with its status (running, paused, disabled, scheduled), last run "
        "(started, finished, added / updated / deleted, error code) and next run. A catalog "
        "sync is off until enabled.",
    ),
    Operation("GET", "/syncs/{id}/{name}", "One sync", {200: SyncView}, (401, 404)),
    Operation(
        "PUT",
        "/syncs/{id}/{name}",
        "Set a sync's enabled and frequency, or write a sync of the tenant's own",
        {200: SyncView},
        (400, 401, 404, 409),
        description="For a catalog sync, {enabled, frequency}. For a sync of the tenant's own, "
        "its definition's fields beside enabled: model, request {path, params, method, body}, "
        "records_path, id_path, updated_at_path, pagination (as fetch takes it), incremental "
        "{param, format, param_in}, deletes (none, full_refresh or {tombstone_path}), "
        "frequency, hooks (on rest_api and graphql_api connections only: elsewhere 400 "
        "CUSTOM_SYNC_NOT_SUPPORTED). 400 INVALID_SYNC lists every wrong field in details.errors. "
        "409 TOO_MANY_SYNCS for a new sync on a connection that holds 500 already.",
        request=PutSync,
    ),
    Operation(
        "POST",
        "/syncs/{id}/{name}/run",
        "Start a run now (full: every record, and deletions of the records it did not see)",
        {202: RunStarted},
        (400, 401, 404, 409),
        description="409 SYNC_RUN_ACTIVE when a run of the sync is going; details.run_id names it.",
        request=RunSync,
        request_optional=True,
    ),
    Operation(
        "GET",
        "/syncs/{id}/{name}/runs",
        "Recent runs, newest first",
        {200: RunsBody},
        (400, 401, 404),
        query=RunsQuery,
    ),
    Operation(
        "GET",
        "/records/{id}/{model}",
        "Synced records as changes (ADDED, UPDATED, DELETED), in change order",
        {200: RecordsBody},
        (400, 401, 404),
        description="Each record is its payload plus _tether {id, action, cursor, "
        "first_seen_at, last_modified_at}. Reading from next_cursor returns exactly the "
        "changes after it, none twice, none lost while a run writes; modified_after keeps "
        "records last modified after it. A page ends before limit when its records reach "
        "8 MiB (has_more says so).",
        query=RecordsQuery,
    ),
    Operation(
        "POST",
        "/tasks/{kind}",
        "Run one task (Cloud Tasks / Scheduler target)",
        {200: s.TaskAnswer, 503: s.TaskAnswer},
        (400, 401, 403, 413, 415),
        security="tasks",
        description="200: done, or failed for good (ok: false, retry: false; not retried); "
        "503: failed, the queue retries. The body is the task's parameters (optional).",
        raw_body="the task's parameters, a JSON object",
    ),
    Operation(
        "POST",
        "/tasks/deliver/replay",
        "Send a dead or failed delivery again now",
        {200: s.TaskAnswer},
        (400, 401, 403, 404),
        security="tasks",
        request=ReplayDelivery,
    ),
)
