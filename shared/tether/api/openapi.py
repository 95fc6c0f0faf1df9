"""The HTTP contract as OpenAPI 3.1, served by ``tether dev`` at ``/openapi.json``.

Every request and response body is a pydantic model (:mod:`tether.api.schemas`, the input
models of the capabilities, and the few bodies a route module declares beside its routes);
their JSON Schemas are generated in one pass into ``components/schemas`` with shared
definitions, so the document cannot drift from what the functions accept and send. The
operations themselves are listed in :mod:`tether.api.operations`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from tether.api.operations import LIMITS, OPERATIONS, Operation
from tether.api.schemas import ErrorBody

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "public": [],
    "bearer": [{"bearer": []}],
    "tasks": [{"taskCaller": []}],
}


def _models(operations: tuple[Operation, ...]) -> list[type[BaseModel]]:
    seen: dict[type[BaseModel], None] = {ErrorBody: None}
    for op in operations:
        for model in (op.request, op.query, *op.responses.values()):
            if isinstance(model, type):
                seen.setdefault(model, None)
    return list(seen)


def _query_parameters(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """A query model's fields as OpenAPI parameters."""
    name = schema["$ref"].rsplit("/", 1)[-1]
    model = defs[name]
    required = set(model.get("required", ()))
    return [
        {
            "name": field,
            "in": "query",
            "required": field in required,
            **({"description": prop["description"]} if "description" in prop else {}),
            "schema": {k: v for k, v in prop.items() if k != "description"},
        }
        for field, prop in model["properties"].items()
    ]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    models = _models(OPERATIONS)
    keys, generated = models_json_schema(
        [(model, "validation") for model in models], ref_template=_REF
    )
    refs = {model: keys[(model, "validation")] for model in models}
    defs: dict[str, Any] = generated.get("$defs", {})
    error = refs[ErrorBody]
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        entry: dict[str, Any] = {"summary": op.summary, "security": _SECURITY[op.security]}
        if op.description:
            entry["description"] = op.description
        if op.sessions:
            entry["x-connect-session"] = True
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in op.path_params
        ]
        if op.query is not None:
            parameters += _query_parameters(refs[op.query], defs)
        parameters += [
            {"name": name, "in": "query", "required": False, "description": text}
            | {"schema": {"type": "string"}}
            for name, text in op.query_text
        ]
        if parameters:
            entry["parameters"] = parameters
        if op.request is not None:
            entry["requestBody"] = {
                "required": not op.request_optional,
                "content": {"application/json": {"schema": refs[op.request]}},
            }
        elif op.raw_body is not None:
            entry["requestBody"] = {
                "required": True,
                "description": op.raw_body,
                "content": {"*/*": {"schema": {}}},
            }
        responses: dict[str, Any] = {}
        for status, model in op.responses.items():
            if isinstance(model, str):
                responses[str(status)] = {"description": model}
            else:
                text = (model.__doc__ or model.__name__).strip().split("\n\n")[0]
                responses[str(status)] = _json(refs[model], " ".join(text.split()))
        for status in op.errors:
            responses.setdefault(str(status), _json(error, "error"))
        entry["responses"] = responses
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tether", "version": "0.1.0", "description": LIMITS},
        "servers": [{"url": server_url}] if server_url else [],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The tenant's token; on operations marked "
                    "x-connect-session, a connect session's token too",
                },
                "taskCaller": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Google-signed OIDC token of the tasks service account",
                },
            },
            "schemas": defs,
        },
    }
