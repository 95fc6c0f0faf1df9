"""The HTTP contract as OpenAPI 3.1, served by ``tether dev`` at ``/openapi.json``.

Request bodies come straight from the pydantic input models, so the document cannot drift
from what the functions accept.
"""

from __future__ import annotations

from typing import Any

from tether.connections.commands import CreateConnection, StartOAuth, UpdateConnection
from tether.domain.bounded_json import MAX_DEPTH, MAX_ITEMS, MAX_STRING_CHARS

__all__ = ["openapi_document"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}

_CONNECTION = {
    "type": "object",
    "description": "A connection as callers see it: never a credential, only masked hints.",
    "properties": {
        "id": {"type": "string", "pattern": "^conn_"},
        "provider": {"type": "string"},
        "auth_mode": {"type": "string"},
        "display_name": {"type": "string"},
        "status": {
            "type": "string",
            "enum": ["pending", "active", "error", "needs_reauth", "disabled"],
        },
        "status_detail": {"type": ["object", "null"]},
        "config": {"type": "object"},
        "metadata": {"type": "object"},
        "credential_hints": {"type": "object", "additionalProperties": {"type": "string"}},
        "has_credentials": {"type": "boolean"},
        "scopes": {"type": "array", "items": {"type": "string"}},
        "token_expires_at": {"type": ["string", "null"], "format": "date-time"},
        "last_test": {"type": ["object", "null"]},
        "last_sync_at": {"type": ["string", "null"], "format": "date-time"},
        "webhook": {"type": ["object", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "created_by": {"type": "string"},
        "version": {"type": "integer"},
    },
}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {
            "description": "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for s in statuses
    }


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_KEY = "^[a-z][a-z0-9_]{0,63}$"
_LIMITS = (
    f"Every JSON body is checked before anything reads it: at most {MAX_DEPTH} nested arrays "
    f"or objects (400 JSON_TOO_DEEP), {MAX_ITEMS} members in one array or object and "
    f"{MAX_STRING_CHARS} characters in one string or key (400 JSON_TOO_LARGE); NaN, Infinity, "
    "numbers out of range and lone UTF-16 surrogates are refused (400 INVALID_JSON). A record "
    "stored before these limits that can no longer be read is left out of listings, answers "
    "409 RECORD_UNREADABLE when asked for by id, and can still be deleted."
)
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    secured: list[dict[str, list[str]]] = [{"bearer": []}]
    paths: dict[str, Any] = {
        "/catalog/": {
            "get": {
                "summary": "List providers",
                "security": [],
                "parameters": [
                    _query("q", "text search over key, name, description, categories"),
                    _query("category", "e.g. accounting, ecommerce, crm"),
                    _query(
                        "auth_mode",
                        "oauth2, oauth2_client_credentials, api_key, bearer, basic, none",
                    ),
                    _query("region", "e.g. global, us, uk, eu, za"),
                ],
                "responses": {"200": _json("ProviderList", "providers"), **_errors(400)},
            }
        },
        "/catalog/{key}": {
            "get": {
                "summary": "One provider with its credentials and config JSON Schemas",
                "security": [],
                "parameters": [
                    {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _json("Provider", "provider"), **_errors(404)},
            }
        },
        "/connections/": {
            "post": {
                "summary": "Create a connection",
                "security": secured,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/CreateConnection"}
                        }
                    },
                },
                "responses": {
                    "201": _json("Connection", "created"),
                    **_errors(400, 401, 404, 413, 415),
                },
            },
            "get": {
                "summary": "List the tenant's connections, newest first",
                "security": secured,
                "parameters": [
                    _query(
                        "status",
                        "filter by status",
                        {"enum": ["pending", "active", "error", "needs_reauth", "disabled"]},
                    ),
                    _query(
                        "provider", "filter by provider key", {"type": "string", "pattern": _KEY}
                    ),
                    _query(
                        "limit",
                        "page size (default 50)",
                        {"type": "integer", "minimum": 1, "maximum": 200},
                    ),
                    _query("cursor", "next_cursor of the previous page"),
                ],
                "responses": {"200": _json("ConnectionList", "a page"), **_errors(400, 401)},
            },
        },
        "/connections/{id}": {
            "parameters": [_ID],
            "get": {
                "summary": "Get a connection",
                "security": secured,
                "responses": {
                    "200": _json("Connection", "the connection"),
                    **_errors(401, 404, 409),
                },
            },
            "patch": {
                "summary": "Change display name, config, metadata or credentials",
                "description": "Credentials merge field by field; null removes a field. "
                "Credentials are bound to their destination: a config change that moves where "
                "they are sent (a base URL's origin, a token URL, a database host) needs the "
                "credentials again in the same request, which then replace the stored ones "
                "(409 CREDENTIALS_REQUIRED otherwise; an OAuth connection waits for a "
                "reconnect). Send If-Match with the ETag to refuse lost updates.",
                "security": secured,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/UpdateConnection"}
                        }
                    },
                },
                "responses": {
                    "200": _json("Connection", "updated"),
                    **_errors(400, 401, 404, 409, 412, 413),
                },
            },
            "delete": {
                "summary": "Delete a connection (soft delete; credentials destroyed)",
                "description": "A record that can no longer be read (409 RECORD_UNREADABLE on "
                "GET) is removed for good; its tokens cannot be revoked at the provider.",
                "security": secured,
                "responses": {"204": {"description": "deleted"}, **_errors(401, 404)},
            },
        },
        "/connections/{id}/audit": {
            "parameters": [_ID],
            "get": {
                "summary": "Audit trail of a connection (no secrets)",
                "security": secured,
                "responses": {"200": {"description": "audit entries"}, **_errors(401, 404, 409)},
            },
        },
        "/connections/{id}/refresh": {
            "parameters": [_ID],
            "post": {
                "summary": "Refresh an OAuth connection's access token now",
                "security": secured,
                "responses": {
                    "200": _json("Connection", "refreshed"),
                    **_errors(401, 404, 409, 503),
                },
            },
        },
        "/oauth_start/": {
            "post": {
                "summary": "Start an OAuth2 authorization (PKCE S256)",
                "security": secured,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/StartOAuth"}}
                    },
                },
                "responses": {
                    "201": {"description": "{authorization_url, state, expires_at}"},
                    **_errors(400, 401, 404),
                },
            },
        },
        "/oauth_callback/": {
            "get": {
                "summary": "The provider's redirect; 302 to return_to with connection_id and "
                "status, or error and message",
                "parameters": [
                    _query("code", "authorization code"),
                    _query("state", "the state from oauth_start"),
                    _query("iss", "issuer (RFC 9207)"),
                    _query("error", "the provider's error code"),
                ],
                "responses": {
                    "302": {"description": "to return_to"},
                    **_errors(400),
                },
            },
        },
        "/test_connection/": {
            "post": {
                "summary": "Test unsaved credentials: {provider, credentials, config} → "
                "{ok, code, message, suggestion, http_status, latency_ms, sample}",
                "security": secured,
                "responses": {"200": {"description": "the outcome"}, **_errors(400, 401)},
            },
        },
        "/test_connection/{id}": {
            "parameters": [_ID],
            "post": {
                "summary": "Test a stored connection and record the result on it",
                "security": secured,
                "responses": {"200": {"description": "the outcome"}, **_errors(401, 404)},
            },
        },
        "/fetch/{id}": {
            "parameters": [_ID],
            "post": {
                "summary": "Fetch from the connection's API: {method, path, params, body, "
                "records_path, pagination, max_pages, max_records, cursor} → "
                "{records, pages, next_cursor, truncated}",
                "description": "The connection's own credential values are masked "
                "([REDACTED]) wherever they appear in the records or the cursor, as an API "
                "that echoes the request would return them.",
                "security": secured,
                "responses": {
                    "200": {"description": "records"},
                    **_errors(400, 401, 404, 409, 502),
                },
            },
        },
        "/fetch/{id}/endpoints": {
            "parameters": [_ID],
            "get": {
                "summary": "Endpoints of the connection's API (catalog, then OpenAPI/Swagger)",
                "security": secured,
                "responses": {"200": {"description": "endpoints"}, **_errors(401, 404)},
            },
        },
        "/connections/{id}/webhook/rotate": {
            "parameters": [_ID],
            "post": {
                "summary": "A new webhook URL for the connection (shown once; the old one stops)",
                "security": secured,
                "responses": {"201": {"description": "{url}"}, **_errors(401, 404)},
            },
        },
        "/connections/{id}/events": {
            "parameters": [_ID],
            "get": {
                "summary": "Recent inbound events and deliveries of the connection",
                "security": secured,
                "responses": {"200": {"description": "{events, deliveries}"}, **_errors(401, 404)},
            },
        },
        "/webhooks/{token}": {
            "parameters": [
                {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "post": {
                "summary": "A provider's webhook delivery to one connection (signature verified)",
                "responses": {
                    "200": {"description": "{ok, duplicate}"},
                    **_errors(401, 404, 413, 503),
                },
            },
        },
        "/webhooks/providers/{provider}": {
            "parameters": [
                {"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "post": {
                "summary": "An app-level webhook delivery, routed by the catalog's route field",
                "responses": {
                    "200": {"description": "{ok, duplicate}"},
                    **_errors(401, 404, 413, 503),
                },
            },
        },
        "/settings/": {
            "get": {
                "summary": "The tenant's notify URL and signing secrets (ids, never values)",
                "security": secured,
                "responses": {"200": {"description": "settings"}, **_errors(401)},
            },
            "put": {
                "summary": "Set the notify URL ({notify_url}; null clears it)",
                "security": secured,
                "responses": {"200": {"description": "settings"}, **_errors(400, 401)},
            },
        },
        "/settings/notify-secret/rotate": {
            "post": {
                "summary": "A new whsec_ signing secret, shown once; previous ones keep signing "
                "for overlap_hours",
                "security": secured,
                "responses": {"201": {"description": "{secret, …}"}, **_errors(400, 401)},
            },
        },
        "/tasks/{kind}": {
            "parameters": [
                {"name": "kind", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "post": {
                "summary": "Run one task (Cloud Tasks / Scheduler target)",
                "security": [{"taskCaller": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": {"description": "done, or failed for good (ok: false, not retried)"},
                    "503": {"description": "failed; the queue retries"},
                    **_errors(400, 401, 403),
                },
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tether",
            "version": "0.1.0",
            "description": _LIMITS,
        },
        "servers": [{"url": server_url}] if server_url else [],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "taskCaller": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Google-signed OIDC token of the tasks service account",
                },
            },
            "schemas": {
                "Error": _ERROR,
                "Connection": _CONNECTION,
                "ConnectionList": {
                    "type": "object",
                    "properties": {
                        "connections": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Connection"},
                        },
                        "next_cursor": {"type": ["string", "null"]},
                        "unreadable": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "ids of records of this page that can no longer "
                            "be read (left out of connections; DELETE removes them)",
                        },
                    },
                },
                "Provider": {"type": "object"},
                "ProviderList": {
                    "type": "object",
                    "properties": {"providers": {"type": "array", "items": {"type": "object"}}},
                },
                "CreateConnection": CreateConnection.model_json_schema(),
                "UpdateConnection": UpdateConnection.model_json_schema(),
                "StartOAuth": StartOAuth.model_json_schema(),
            },
        },
    }
